package sip

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosip "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// testCreds is a CredentialSource backed by a map.
type testCreds map[string]Credential

func (m testCreds) Credential(username string) (Credential, bool) {
	c, ok := m[username]
	return c, ok
}

// testClock is a settable clock safe for concurrent use.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

const testRealm = "teamline.test"

var testAccounts = testCreds{
	"alice": {AgentID: "agent-alice", Username: "alice", Password: "s3cret-alice"},
	"bob":   {AgentID: "agent-bob", Username: "bob", Password: "b0b!pass"},
}

// testRegister builds a REGISTER for user with the given extra headers.
func testRegister(t testing.TB, user string, extra ...gosip.Header) *gosip.Request {
	t.Helper()
	req := gosip.NewRequest(gosip.REGISTER, gosip.Uri{Scheme: "sip", Host: testRealm})
	via := &gosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5099,
		Params: gosip.HeaderParams{{K: "branch", V: gosip.GenerateBranch()}}}
	req.AppendHeader(via)
	req.AppendHeader(&gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: user, Host: testRealm},
		Params: gosip.HeaderParams{{K: "tag", V: "ft1"}}})
	req.AppendHeader(&gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: user, Host: testRealm}})
	cid := gosip.CallIDHeader("call-" + user)
	req.AppendHeader(&cid)
	req.AppendHeader(&gosip.CSeqHeader{SeqNo: 1, MethodName: gosip.REGISTER})
	for _, h := range extra {
		req.AppendHeader(h)
	}
	req.SetSource("127.0.0.1:5099")
	return req
}

// testAuthorization answers challenge (a WWW-Authenticate value) the way an
// independent client library does.
func testAuthorization(t testing.TB, challenge, method, uri, user, pass string, nc int) string {
	t.Helper()
	chal, err := digest.ParseChallenge(challenge)
	if err != nil {
		t.Fatalf("parse challenge %q: %v", challenge, err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: user, Password: pass, Count: nc})
	if err != nil {
		t.Fatalf("digest: %v", err)
	}
	return cred.String()
}

func testChallengeFor(t testing.TB, c *DigestChallenger, alg string) string {
	t.Helper()
	for _, v := range c.Challenges(false) {
		if strings.Contains(v, "algorithm="+alg+",") {
			return v
		}
	}
	t.Fatalf("no %s challenge", alg)
	return ""
}

// The RFC 2617 §3.5 and RFC 7616 §3.9.1 examples, hashed by our code.
func TestDigestExpectedKnownVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header, method, password, alg, want string
	}{
		{
			name: "RFC 2617 MD5",
			header: `Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", ` +
				`uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", ` +
				`response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
			method: "GET", password: "Circle Of Life", alg: DigestMD5,
			want: "6629fae49393a05397450978507c4ef1",
		},
		{
			name: "RFC 7616 SHA-256",
			header: `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=SHA-256, ` +
				`nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, ` +
				`cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, ` +
				`response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1", ` +
				`opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
			method: "GET", password: "Circle of Life", alg: DigestSHA256,
			want: "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
		},
		{
			// RFC 2069 style, no qop: response = H(HA1:nonce:HA2), computed
			// here with plain crypto/md5.
			name: "no qop MD5",
			header: `Digest username="alice", realm="teamline.test", nonce="abc", uri="sip:teamline.test", ` +
				`response="00000000000000000000000000000000"`,
			method: "REGISTER", password: "pw", alg: DigestMD5,
			want: func() string {
				h := func(s string) string { s2 := md5.Sum([]byte(s)); return hex.EncodeToString(s2[:]) }
				return h(h("alice:teamline.test:pw") + ":abc:" + h("REGISTER:sip:teamline.test"))
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cred, err := digestParseCredentials(tt.header)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			sum := digestExpected(tt.alg, tt.method, tt.password, &cred)
			n := md5.Size
			if tt.alg == DigestSHA256 {
				n = sha256.Size
			}
			if got := hex.EncodeToString(sum[:n]); got != tt.want {
				t.Errorf("response = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDigestVerify(t *testing.T) {
	t.Parallel()
	const uri = "sip:" + testRealm

	type setup struct {
		c     *DigestChallenger
		clock *testClock
	}
	newSetup := func(opts ...DigestOption) setup {
		clock := newTestClock()
		opts = append([]DigestOption{WithDigestClock(clock.Now)}, opts...)
		return setup{c: NewDigestChallenger(testRealm, testAccounts, opts...), clock: clock}
	}
	auth := func(t *testing.T, s setup, alg, user, pass string, nc int) string {
		return testAuthorization(t, testChallengeFor(t, s.c, alg), "REGISTER", uri, user, pass, nc)
	}

	tests := []struct {
		name      string
		opts      []DigestOption
		headers   func(t *testing.T, s setup) []string // Authorization values, one request each
		wantErr   []error                              // per request; nil = OK
		wantStale bool                                 // for the last request
	}{
		{
			name: "SHA-256 ok",
			headers: func(t *testing.T, s setup) []string {
				return []string{auth(t, s, DigestSHA256, "alice", "s3cret-alice", 1)}
			},
			wantErr: []error{nil},
		},
		{
			name:    "MD5 ok",
			headers: func(t *testing.T, s setup) []string { return []string{auth(t, s, DigestMD5, "bob", "b0b!pass", 1)} },
			wantErr: []error{nil},
		},
		{
			name: "MD5 without algorithm parameter",
			headers: func(t *testing.T, s setup) []string {
				v := auth(t, s, DigestMD5, "alice", "s3cret-alice", 1)
				return []string{strings.Replace(v, "algorithm=MD5, ", "", 1)}
			},
			wantErr: []error{nil},
		},
		{
			name:    "wrong password",
			headers: func(t *testing.T, s setup) []string { return []string{auth(t, s, DigestSHA256, "alice", "guess", 1)} },
			wantErr: []error{ErrAuthBadResponse},
		},
		{
			name:    "unknown user",
			headers: func(t *testing.T, s setup) []string { return []string{auth(t, s, DigestMD5, "mallory", "x", 1)} },
			wantErr: []error{ErrAuthUnknownUser},
		},
		{
			name: "stale nonce",
			headers: func(t *testing.T, s setup) []string {
				v := auth(t, s, DigestSHA256, "alice", "s3cret-alice", 1)
				s.clock.Advance(DefaultDigestNonceTTL + time.Second)
				return []string{v}
			},
			wantErr:   []error{ErrAuthStaleNonce},
			wantStale: true,
		},
		{
			name: "stale nonce with wrong password is not stale",
			headers: func(t *testing.T, s setup) []string {
				v := auth(t, s, DigestSHA256, "alice", "wrong", 1)
				s.clock.Advance(DefaultDigestNonceTTL + time.Second)
				return []string{v}
			},
			wantErr: []error{ErrAuthBadResponse},
		},
		{
			name: "custom TTL",
			opts: []DigestOption{WithDigestNonceTTL(10 * time.Second)},
			headers: func(t *testing.T, s setup) []string {
				v := auth(t, s, DigestMD5, "bob", "b0b!pass", 1)
				s.clock.Advance(11 * time.Second)
				return []string{v}
			},
			wantErr: []error{ErrAuthStaleNonce}, wantStale: true,
		},
		{
			name: "nc replay then higher nc",
			headers: func(t *testing.T, s setup) []string {
				chal := testChallengeFor(t, s.c, DigestSHA256)
				a1 := testAuthorization(t, chal, "REGISTER", uri, "alice", "s3cret-alice", 1)
				a3 := testAuthorization(t, chal, "REGISTER", uri, "alice", "s3cret-alice", 3)
				a2 := testAuthorization(t, chal, "REGISTER", uri, "alice", "s3cret-alice", 2)
				return []string{a1, a1, a3, a2}
			},
			wantErr:   []error{nil, ErrAuthReplay, nil, ErrAuthReplay},
			wantStale: true,
		},
		{
			name: "nonce of another server",
			headers: func(t *testing.T, s setup) []string {
				other := NewDigestChallenger(testRealm, testAccounts)
				return []string{testAuthorization(t, testChallengeFor(t, other, DigestMD5), "REGISTER", uri, "alice", "s3cret-alice", 1)}
			},
			wantErr: []error{ErrAuthUnknownNonce}, wantStale: true,
		},
		{
			name: "made-up nonce",
			headers: func(t *testing.T, s setup) []string {
				chal := `Digest realm="teamline.test", nonce="deadbeef", algorithm=MD5, qop="auth"`
				return []string{testAuthorization(t, chal, "REGISTER", uri, "alice", "s3cret-alice", 1)}
			},
			wantErr: []error{ErrAuthUnknownNonce}, wantStale: true,
		},
		{
			name: "shared secret accepts a peer's nonce",
			opts: []DigestOption{WithDigestSecret([]byte("cluster-secret"))},
			headers: func(t *testing.T, s setup) []string {
				peer := NewDigestChallenger(testRealm, testAccounts, WithDigestSecret([]byte("cluster-secret")), WithDigestClock(s.clock.Now))
				return []string{testAuthorization(t, testChallengeFor(t, peer, DigestSHA256), "REGISTER", uri, "alice", "s3cret-alice", 1)}
			},
			wantErr: []error{nil},
		},
		{
			name: "realm mismatch",
			headers: func(t *testing.T, s setup) []string {
				chal := strings.Replace(testChallengeFor(t, s.c, DigestMD5), testRealm, "elsewhere", 1)
				return []string{testAuthorization(t, chal, "REGISTER", uri, "alice", "s3cret-alice", 1)}
			},
			wantErr: []error{ErrAuthRealm},
		},
		{
			name: "uri of another user",
			headers: func(t *testing.T, s setup) []string {
				return []string{testAuthorization(t, testChallengeFor(t, s.c, DigestMD5), "REGISTER", "sip:bob@"+testRealm, "alice", "s3cret-alice", 1)}
			},
			wantErr: []error{ErrAuthURI},
		},
		{
			name: "uri with another host is accepted",
			headers: func(t *testing.T, s setup) []string {
				return []string{testAuthorization(t, testChallengeFor(t, s.c, DigestMD5), "REGISTER", "sip:10.0.0.1:5060", "alice", "s3cret-alice", 1)}
			},
			wantErr: []error{nil},
		},
		{
			name:    "missing",
			headers: func(t *testing.T, s setup) []string { return nil },
			wantErr: []error{ErrAuthMissing},
		},
		{
			name:    "malformed",
			headers: func(t *testing.T, s setup) []string { return []string{`Digest username="alice", realm=`} },
			wantErr: []error{ErrAuthMalformed},
		},
		{
			name:    "basic scheme",
			headers: func(t *testing.T, s setup) []string { return []string{`Basic YWxpY2U6cHc=`} },
			wantErr: []error{ErrAuthMalformed},
		},
		{
			name: "qop auth-int refused",
			headers: func(t *testing.T, s setup) []string {
				v := auth(t, s, DigestMD5, "alice", "s3cret-alice", 1)
				return []string{strings.Replace(v, "qop=auth", "qop=auth-int", 1)}
			},
			wantErr: []error{ErrAuthAlgorithm},
		},
		{
			name: "MD5-sess refused",
			headers: func(t *testing.T, s setup) []string {
				v := auth(t, s, DigestMD5, "alice", "s3cret-alice", 1)
				return []string{strings.Replace(v, "algorithm=MD5", "algorithm=MD5-sess", 1)}
			},
			wantErr: []error{ErrAuthAlgorithm},
		},
		{
			name: "MD5 refused when only SHA-256 offered",
			opts: []DigestOption{WithDigestAlgorithms(DigestSHA256)},
			headers: func(t *testing.T, s setup) []string {
				chal := strings.Replace(testChallengeFor(t, s.c, DigestSHA256), "SHA-256", "MD5", 1)
				return []string{testAuthorization(t, chal, "REGISTER", uri, "alice", "s3cret-alice", 1)}
			},
			wantErr: []error{ErrAuthAlgorithm},
		},
		{
			name: "opaque must be echoed",
			opts: []DigestOption{WithDigestOpaque("op-1")},
			headers: func(t *testing.T, s setup) []string {
				good := auth(t, s, DigestMD5, "alice", "s3cret-alice", 1)
				bad := strings.Replace(auth(t, s, DigestMD5, "alice", "s3cret-alice", 1), `opaque="op-1"`, `opaque="op-2"`, 1)
				return []string{good, bad}
			},
			wantErr: []error{nil, ErrAuthOpaque},
		},
		{
			name: "no qop is single use",
			headers: func(t *testing.T, s setup) []string {
				chal := strings.Replace(testChallengeFor(t, s.c, DigestMD5), `, qop="auth"`, "", 1)
				v := testAuthorization(t, chal, "REGISTER", uri, "alice", "s3cret-alice", 0)
				return []string{v, v}
			},
			wantErr: []error{nil, ErrAuthReplay}, wantStale: true,
		},
		{
			name: "uppercase hex response",
			headers: func(t *testing.T, s setup) []string {
				v := auth(t, s, DigestSHA256, "alice", "s3cret-alice", 1)
				i := strings.Index(v, `response="`) + len(`response="`)
				return []string{v[:i] + strings.ToUpper(v[i:i+64]) + v[i+64:]}
			},
			wantErr: []error{nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(tt.opts...)
			values := tt.headers(t, s)
			if len(values) == 0 {
				values = []string{""}
			}
			if len(values) != len(tt.wantErr) {
				t.Fatalf("%d requests but %d expectations", len(values), len(tt.wantErr))
			}
			var res DigestResult
			for i, v := range values {
				var extra []gosip.Header
				if v != "" {
					extra = append(extra, gosip.NewHeader("Authorization", v))
				}
				req := testRegister(t, "alice", extra...)
				res = s.c.Verify(req)
				if !errors.Is(res.Err, tt.wantErr[i]) || (tt.wantErr[i] == nil && res.Err != nil) {
					t.Fatalf("request %d: err = %v, want %v", i, res.Err, tt.wantErr[i])
				}
				if res.OK() != (tt.wantErr[i] == nil) {
					t.Fatalf("request %d: OK() = %v", i, res.OK())
				}
				if res.OK() && (res.Credential.AgentID == "" || res.Credential.Username != res.Username) {
					t.Fatalf("request %d: credential %+v for %q", i, res.Credential, res.Username)
				}
			}
			if res.Stale() != tt.wantStale {
				t.Errorf("Stale() = %v, want %v (err %v)", res.Stale(), tt.wantStale, res.Err)
			}
		})
	}
}

func TestDigestChallengeHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     []DigestOption
		stale    bool
		wantAlgs []string
	}{
		{name: "default order", wantAlgs: []string{DigestSHA256, DigestMD5}},
		{name: "stale", stale: true, wantAlgs: []string{DigestSHA256, DigestMD5}},
		{name: "MD5 first", opts: []DigestOption{WithDigestAlgorithms("md5", "sha-256", "bogus")}, wantAlgs: []string{DigestMD5, DigestSHA256}},
		{name: "only MD5", opts: []DigestOption{WithDigestAlgorithms(DigestMD5)}, wantAlgs: []string{DigestMD5}},
		{name: "opaque", opts: []DigestOption{WithDigestOpaque(`o"1`)}, wantAlgs: []string{DigestSHA256, DigestMD5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewDigestChallenger(`team"line`, testAccounts, tt.opts...)
			res := c.ChallengeResponse(testRegister(t, "alice"), tt.stale)
			if res.StatusCode != 401 {
				t.Fatalf("status %d", res.StatusCode)
			}
			hs := res.GetHeaders("WWW-Authenticate")
			if len(hs) != len(tt.wantAlgs) {
				t.Fatalf("%d challenges, want %d", len(hs), len(tt.wantAlgs))
			}
			var nonce string
			for i, h := range hs {
				chal, err := digest.ParseChallenge(h.Value())
				if err != nil {
					t.Fatalf("parse %q: %v", h.Value(), err)
				}
				if chal.Algorithm != tt.wantAlgs[i] || !chal.SupportsQOP("auth") || chal.Stale != tt.stale ||
					chal.Realm != `team"line` || len(chal.Nonce) != 2*digestNonceLen {
					t.Errorf("challenge %d = %+v", i, chal)
				}
				if nonce != "" && chal.Nonce != nonce {
					t.Errorf("challenges carry different nonces")
				}
				nonce = chal.Nonce
			}
			if c.NewNonce() == nonce {
				t.Errorf("nonce reused")
			}
		})
	}
}

// A full used-nonce map drops the oldest nonces, and a dropped nonce can
// never authenticate again, even with a higher nonce count.
func TestDigestNonceCapEvictsSafely(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	c := NewDigestChallenger(testRealm, testAccounts, WithDigestClock(clock.Now), WithDigestMaxNonces(10))
	var chals []string
	for i := range 25 {
		chal := testChallengeFor(t, c, DigestMD5)
		chals = append(chals, chal)
		a := testAuthorization(t, chal, "REGISTER", "sip:"+testRealm, "alice", "s3cret-alice", 1)
		if res := c.Verify(testRegister(t, "alice", gosip.NewHeader("Authorization", a))); !res.OK() {
			t.Fatalf("nonce %d: %v", i, res.Err)
		}
		clock.Advance(time.Millisecond)
	}
	c.mu.Lock()
	n := len(c.used)
	c.mu.Unlock()
	if n > 10 {
		t.Fatalf("used map holds %d nonces, cap 10", n)
	}
	a := testAuthorization(t, chals[0], "REGISTER", "sip:"+testRealm, "alice", "s3cret-alice", 2)
	if res := c.Verify(testRegister(t, "alice", gosip.NewHeader("Authorization", a))); !errors.Is(res.Err, ErrAuthStaleNonce) {
		t.Fatalf("evicted nonce: err = %v, want stale", res.Err)
	}
	a = testAuthorization(t, chals[24], "REGISTER", "sip:"+testRealm, "alice", "s3cret-alice", 2)
	if res := c.Verify(testRegister(t, "alice", gosip.NewHeader("Authorization", a))); !res.OK() {
		t.Fatalf("newest nonce: err = %v", res.Err)
	}

	clock.Advance(DefaultDigestNonceTTL + time.Second)
	c.Sweep()
	c.mu.Lock()
	n = len(c.used)
	c.mu.Unlock()
	if n != 0 {
		t.Fatalf("after sweep %d nonces remain", n)
	}
}

func TestDigestConcurrentVerify(t *testing.T) {
	t.Parallel()
	c := NewDigestChallenger(testRealm, testAccounts)
	chal := testChallengeFor(t, c, DigestSHA256)
	const workers, per = 8, 50
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				// Every worker races for the same counts: each count may
				// succeed exactly once.
				a := testAuthorization(t, chal, "REGISTER", "sip:"+testRealm, "alice", "s3cret-alice", i+1)
				if c.Verify(testRegister(t, "alice", gosip.NewHeader("Authorization", a))).OK() {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := ok.Load(); got < 1 || got > per {
		t.Fatalf("%d successes, want between 1 and %d", got, per)
	}
}

func TestDigestParseCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    digestCredentials
		wantErr error
	}{
		{
			name: "typical",
			in:   `Digest username="alice", realm="r", nonce="n", uri="sip:r", response="abc", algorithm=SHA-256, cnonce="c", qop=auth, nc=0000000a`,
			want: digestCredentials{username: "alice", realm: "r", nonce: "n", uri: "sip:r", response: "abc", algorithm: "SHA-256", cnonce: "c", qop: "auth", ncRaw: "0000000a", nc: 10},
		},
		{
			name: "odd spacing, quoted qop and nc, lowercase scheme",
			in:   "digest  username = \"alice\" ,realm=\"r\",\tnonce=\"n\", uri=\"sip:r\",response=\"abc\", qop=\"auth\", nc=\"00000001\", cnonce=\"c\" ",
			want: digestCredentials{username: "alice", realm: "r", nonce: "n", uri: "sip:r", response: "abc", cnonce: "c", qop: "auth", ncRaw: "00000001", nc: 1},
		},
		{
			name: "escaped quote in username",
			in:   `Digest username="a\"b", realm="r", nonce="n", uri="sip:r", response="abc"`,
			want: digestCredentials{username: `a"b`, realm: "r", nonce: "n", uri: "sip:r", response: "abc"},
		},
		{
			name: "unknown parameter ignored",
			in:   `Digest username="a", realm="r", nonce="n", uri="sip:r", response="abc", foo="bar, baz", x=y`,
			want: digestCredentials{username: "a", realm: "r", nonce: "n", uri: "sip:r", response: "abc"},
		},
		{name: "empty", in: "", wantErr: ErrAuthMalformed},
		{name: "scheme only", in: "Digest", wantErr: ErrAuthMalformed},
		{name: "no space after scheme", in: `Digestusername="a"`, wantErr: ErrAuthMalformed},
		{name: "missing response", in: `Digest username="a", realm="r", nonce="n", uri="sip:r"`, wantErr: ErrAuthMalformed},
		{name: "duplicate nonce", in: `Digest username="a", realm="r", nonce="n", nonce="m", uri="sip:r", response="x"`, wantErr: ErrAuthMalformed},
		{name: "unterminated quote", in: `Digest username="a, realm="r`, wantErr: ErrAuthMalformed},
		{name: "qop without cnonce", in: `Digest username="a", realm="r", nonce="n", uri="sip:r", response="x", qop=auth, nc=00000001`, wantErr: ErrAuthMalformed},
		{name: "short nc", in: `Digest username="a", realm="r", nonce="n", uri="sip:r", response="x", qop=auth, nc=1, cnonce="c"`, wantErr: ErrAuthMalformed},
		{name: "zero nc", in: `Digest username="a", realm="r", nonce="n", uri="sip:r", response="x", qop=auth, nc=00000000, cnonce="c"`, wantErr: ErrAuthMalformed},
		{name: "non-hex nc", in: `Digest username="a", realm="r", nonce="n", uri="sip:r", response="x", qop=auth, nc=0000000g, cnonce="c"`, wantErr: ErrAuthMalformed},
		{name: "missing comma", in: `Digest username="a" realm="r"`, wantErr: ErrAuthMalformed},
		{name: "missing equals", in: `Digest username`, wantErr: ErrAuthMalformed},
		{name: "userhash", in: `Digest username="a", realm="r", nonce="n", uri="sip:r", response="x", userhash=true`, wantErr: ErrAuthAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := digestParseCredentials(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func BenchmarkDigestVerify(b *testing.B) {
	for _, alg := range []string{DigestMD5, DigestSHA256} {
		b.Run(alg, func(b *testing.B) {
			c := NewDigestChallenger(testRealm, testAccounts)
			chal := testChallengeFor(b, c, alg)
			// Pre-build requests with growing nonce counts so each Verify
			// is a genuine success.
			reqs := make([]*gosip.Request, b.N)
			for i := range reqs {
				a := testAuthorization(b, chal, "REGISTER", "sip:"+testRealm, "alice", "s3cret-alice", i+1)
				reqs[i] = testRegister(b, "alice", gosip.NewHeader("Authorization", a))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if res := c.Verify(reqs[i]); !res.OK() {
					b.Fatalf("verify: %v", res.Err)
				}
			}
		})
	}
}

func BenchmarkDigestChallenge(b *testing.B) {
	c := NewDigestChallenger(testRealm, testAccounts)
	b.ReportAllocs()
	for b.Loop() {
		if len(c.Challenges(false)) != 2 {
			b.Fatal("want two challenges")
		}
	}
}

func ExampleDigestChallenger() {
	c := NewDigestChallenger("teamline.example", testCreds{"alice": {AgentID: "a1", Username: "alice", Password: "pw"}},
		WithDigestAlgorithms(DigestSHA256, DigestMD5))
	for _, v := range c.Challenges(false) {
		// The nonce differs every time; show the rest.
		i := strings.Index(v, "nonce=")
		fmt.Println(v[:i] + `nonce="…"` + v[i+len(`nonce="`)+2*digestNonceLen+1:])
	}
	// Output:
	// Digest realm="teamline.example", nonce="…", algorithm=SHA-256, qop="auth"
	// Digest realm="teamline.example", nonce="…", algorithm=MD5, qop="auth"
}

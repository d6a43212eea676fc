package sip

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// Server-side HTTP digest authentication for SIP: RFC 3261 §22 (SIP's use of
// digest), RFC 2617 §3 (qop=auth, nc, cnonce), RFC 7616 and RFC 8760 (SHA-256
// for SIP, several challenges in preference order).
//
// Nonces are stateless until first use: a nonce is
//
//	creation time (8 bytes) | random (12 bytes) | HMAC-SHA-256 (12 bytes)
//
// hex-encoded. Checking the MAC proves Teamline issued it and the time tells
// its age, so a flood of unauthenticated requests costs no memory. Only
// nonces that have authenticated a request are remembered, with the highest
// nonce count seen (RFC 2617 §3.2.2: nc must grow so a captured request cannot
// be replayed). That map is capped and swept; when it has to drop live
// entries it drops the oldest and raises a watermark below which unknown
// nonces count as stale, so a dropped nonce can never be replayed.

// Digest algorithm names as they appear in challenges (RFC 7616 §3.3).
const (
	// DigestMD5 is the RFC 2617 algorithm every SIP phone supports.
	DigestMD5 = "MD5"
	// DigestSHA256 is the RFC 8760 algorithm, offered first by default.
	DigestSHA256 = "SHA-256"
)

// Defaults of a DigestChallenger.
const (
	// DefaultDigestNonceTTL is how long a nonce may be used after it was issued.
	DefaultDigestNonceTTL = 5 * time.Minute
	// DefaultDigestMaxNonces caps how many used nonces are remembered.
	DefaultDigestMaxNonces = 100_000
)

const (
	digestTSLen    = 8
	digestRandLen  = 12
	digestMACLen   = 12
	digestNonceLen = digestTSLen + digestRandLen + digestMACLen
	digestBlock    = 64 // SHA-256 block size, for HMAC
	// digestClockSkew tolerates nonces stamped slightly in the future, e.g.
	// by another process sharing the secret whose clock runs ahead.
	digestClockSkew = 5 * time.Second
	// digestSingleUse marks a nonce used without qop (RFC 2069 style): it
	// has no nonce count, so it may authenticate one request only.
	digestSingleUse = math.MaxUint32
)

// Reasons a request fails digest authentication. Test with errors.Is.
var (
	// ErrAuthMissing means the request carries no Authorization header.
	ErrAuthMissing = errors.New("no digest credentials")
	// ErrAuthMalformed means the Authorization header cannot be parsed or
	// lacks a required field.
	ErrAuthMalformed = errors.New("malformed digest credentials")
	// ErrAuthRealm means the credentials are for another realm.
	ErrAuthRealm = errors.New("digest realm mismatch")
	// ErrAuthAlgorithm means an algorithm or qop Teamline does not offer.
	ErrAuthAlgorithm = errors.New("unsupported digest algorithm or qop")
	// ErrAuthOpaque means the opaque value differs from the challenge's.
	ErrAuthOpaque = errors.New("digest opaque mismatch")
	// ErrAuthURI means the digest uri does not name the request's target.
	ErrAuthURI = errors.New("digest uri does not match request")
	// ErrAuthUnknownUser means no credential exists for the username.
	ErrAuthUnknownUser = errors.New("unknown digest username")
	// ErrAuthBadResponse means the response hash is wrong: wrong password.
	ErrAuthBadResponse = errors.New("wrong digest response")
	// ErrAuthUnknownNonce means a correct response for a nonce this server
	// did not issue (e.g. issued before a restart): challenge again, stale.
	ErrAuthUnknownNonce = errors.New("digest nonce not issued here")
	// ErrAuthStaleNonce means a correct response for an expired nonce.
	ErrAuthStaleNonce = errors.New("digest nonce expired")
	// ErrAuthReplay means a correct response whose nonce count did not
	// grow: a replayed or duplicated request.
	ErrAuthReplay = errors.New("digest nonce count replayed")
)

// Credential is what Teamline knows about one agent's SIP account.
type Credential struct {
	// AgentID identifies the agent in the roster.
	AgentID string
	// Username is the digest username and the user part of the agent's AOR.
	Username string
	// Password is the SIP password; it never reaches a log line.
	Password string
}

// CredentialSource looks up SIP credentials by digest username. The roster
// implements it. It must be safe for concurrent use.
type CredentialSource interface {
	Credential(username string) (Credential, bool)
}

// DigestResult is the outcome of checking a request's digest credentials.
type DigestResult struct {
	// Username is the username the request claimed; it may be empty, and it
	// is only proven when Err is nil.
	Username string
	// Credential is the matching credential; set only when Err is nil.
	Credential Credential
	// Algorithm is the algorithm the client used (DigestMD5 or DigestSHA256).
	Algorithm string
	// Err is nil on success, else one of the ErrAuth... values.
	Err error
}

// OK reports whether the request is authenticated.
func (r DigestResult) OK() bool { return r.Err == nil }

// Stale reports whether the client proved it knows the password but used a
// nonce that can no longer be accepted; the challenge then says stale=true so
// the client retries without asking its user (RFC 2617 §3.2.1).
func (r DigestResult) Stale() bool {
	return errors.Is(r.Err, ErrAuthStaleNonce) || errors.Is(r.Err, ErrAuthUnknownNonce) ||
		errors.Is(r.Err, ErrAuthReplay)
}

// DigestOption configures a DigestChallenger.
type DigestOption func(*DigestChallenger)

// WithDigestNonceTTL sets how long a nonce stays usable (default 5 minutes).
func WithDigestNonceTTL(d time.Duration) DigestOption {
	return func(c *DigestChallenger) {
		if d > 0 {
			c.ttl = d
		}
	}
}

// WithDigestMaxNonces caps the number of used nonces remembered (default
// 100,000).
func WithDigestMaxNonces(n int) DigestOption {
	return func(c *DigestChallenger) {
		if n > 0 {
			c.maxNonces = n
		}
	}
}

// WithDigestAlgorithms sets which algorithms are offered and in which order,
// one WWW-Authenticate header each (default SHA-256, then MD5). Clients that
// take the first challenge they can compute pick the first one they know.
// Unknown names are ignored; an empty list keeps the default.
func WithDigestAlgorithms(algs ...string) DigestOption {
	return func(c *DigestChallenger) {
		var out []string
		for _, a := range algs {
			switch {
			case strings.EqualFold(a, DigestMD5):
				out = append(out, DigestMD5)
			case strings.EqualFold(a, DigestSHA256):
				out = append(out, DigestSHA256)
			}
		}
		out = slices.Compact(out)
		if len(out) > 0 {
			c.algorithms = out
		}
	}
}

// WithDigestOpaque adds an opaque value to challenges and requires clients
// to echo it.
func WithDigestOpaque(opaque string) DigestOption {
	return func(c *DigestChallenger) { c.opaque = opaque }
}

// WithDigestClock replaces time.Now, for tests.
func WithDigestClock(now func() time.Time) DigestOption {
	return func(c *DigestChallenger) {
		if now != nil {
			c.now = now
		}
	}
}

// WithDigestSecret sets the key nonces are signed with, so that several
// Teamline processes behind one load balancer accept each other's nonces.
// By default each process draws a random key.
func WithDigestSecret(secret []byte) DigestOption {
	return func(c *DigestChallenger) {
		if len(secret) > 0 {
			c.secret = slices.Clone(secret)
		}
	}
}

// DigestChallenger issues digest challenges and verifies the answers. It is
// safe for concurrent use and serves REGISTER as well as any other request an
// agent sends (INVITE, BYE).
type DigestChallenger struct {
	realm      string
	creds      CredentialSource
	ttl        time.Duration
	maxNonces  int
	algorithms []string
	opaque     string
	now        func() time.Time
	secret     []byte
	ipad, opad [digestBlock]byte

	mu        sync.Mutex
	used      map[[digestNonceLen]byte]digestUse
	watermark int64 // unknown nonces stamped at or before this are stale
}

type digestUse struct {
	created int64 // unix nanoseconds from the nonce
	lastNC  uint32
}

// NewDigestChallenger returns a challenger for realm that looks passwords up
// in creds.
func NewDigestChallenger(realm string, creds CredentialSource, opts ...DigestOption) *DigestChallenger {
	c := &DigestChallenger{
		realm:      realm,
		creds:      creds,
		ttl:        DefaultDigestNonceTTL,
		maxNonces:  DefaultDigestMaxNonces,
		algorithms: []string{DigestSHA256, DigestMD5},
		now:        time.Now,
		watermark:  math.MinInt64,
	}
	for _, o := range opts {
		o(c)
	}
	if c.secret == nil {
		c.secret = make([]byte, 32)
		if _, err := rand.Read(c.secret); err != nil {
			// crypto/rand does not fail on supported platforms (Go 1.24+).
			panic(fmt.Sprintf("draw digest secret: %v", err))
		}
	}
	key := c.secret
	if len(key) > digestBlock {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	for i := range digestBlock {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		c.ipad[i] = k ^ 0x36
		c.opad[i] = k ^ 0x5c
	}
	c.used = make(map[[digestNonceLen]byte]digestUse)
	return c
}

// Realm returns the realm of the challenges.
func (c *DigestChallenger) Realm() string { return c.realm }

// Algorithms returns the offered algorithms in order.
func (c *DigestChallenger) Algorithms() []string { return slices.Clone(c.algorithms) }

// NewNonce returns a fresh nonce stamped with the current time.
func (c *DigestChallenger) NewNonce() string {
	var raw [digestNonceLen]byte
	binary.BigEndian.PutUint64(raw[:digestTSLen], uint64(c.now().UnixNano()))
	if _, err := rand.Read(raw[digestTSLen : digestTSLen+digestRandLen]); err != nil {
		panic(fmt.Sprintf("draw digest nonce: %v", err))
	}
	c.digestSign(&raw)
	return hex.EncodeToString(raw[:])
}

func (c *DigestChallenger) digestSign(raw *[digestNonceLen]byte) {
	mac := c.digestMAC(raw)
	copy(raw[digestTSLen+digestRandLen:], mac[:digestMACLen])
}

func (c *DigestChallenger) digestMACValid(raw *[digestNonceLen]byte) bool {
	mac := c.digestMAC(raw)
	return subtle.ConstantTimeCompare(mac[:digestMACLen], raw[digestTSLen+digestRandLen:]) == 1
}

// digestMAC is HMAC-SHA-256 (RFC 2104) of the nonce's time and random
// parts, computed from the precomputed padded keys without allocating.
func (c *DigestChallenger) digestMAC(raw *[digestNonceLen]byte) [sha256.Size]byte {
	var inner [digestBlock + digestTSLen + digestRandLen]byte
	copy(inner[:digestBlock], c.ipad[:])
	copy(inner[digestBlock:], raw[:digestTSLen+digestRandLen])
	ih := sha256.Sum256(inner[:])
	var outer [digestBlock + sha256.Size]byte
	copy(outer[:digestBlock], c.opad[:])
	copy(outer[digestBlock:], ih[:])
	return sha256.Sum256(outer[:])
}

// Challenges returns the WWW-Authenticate values for one fresh nonce, one per
// offered algorithm, in order (RFC 8760 §2.4).
func (c *DigestChallenger) Challenges(stale bool) []string {
	nonce := c.NewNonce()
	out := make([]string, 0, len(c.algorithms))
	for _, alg := range c.algorithms {
		var b strings.Builder
		b.Grow(128 + len(c.realm) + len(c.opaque))
		b.WriteString(`Digest realm="`)
		digestQuoteTo(&b, c.realm)
		b.WriteString(`", nonce="`)
		b.WriteString(nonce)
		b.WriteString(`"`)
		if c.opaque != "" {
			b.WriteString(`, opaque="`)
			digestQuoteTo(&b, c.opaque)
			b.WriteString(`"`)
		}
		if stale {
			b.WriteString(", stale=true")
		}
		b.WriteString(", algorithm=")
		b.WriteString(alg)
		b.WriteString(`, qop="auth"`)
		out = append(out, b.String())
	}
	return out
}

// ChallengeResponse builds a 401 Unauthorized for req carrying the
// challenges (RFC 3261 §22.2).
func (c *DigestChallenger) ChallengeResponse(req *gosip.Request, stale bool) *gosip.Response {
	res := gosip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
	for _, v := range c.Challenges(stale) {
		res.AppendHeader(gosip.NewHeader("WWW-Authenticate", v))
	}
	return res
}

// Challenge answers req on tx with a 401 carrying fresh challenges.
func (c *DigestChallenger) Challenge(req *gosip.Request, tx gosip.ServerTransaction, stale bool) error {
	if err := tx.Respond(c.ChallengeResponse(req, stale)); err != nil {
		return fmt.Errorf("send 401 challenge: %w", err)
	}
	return nil
}

// Verify checks the digest credentials of req. It looks at every
// Authorization header and uses the one for this realm.
func (c *DigestChallenger) Verify(req *gosip.Request) DigestResult {
	var (
		found bool
		cred  digestCredentials
		err   error
	)
	for _, h := range req.Headers() {
		if !strings.EqualFold(h.Name(), "Authorization") {
			continue
		}
		found = true
		cred, err = digestParseCredentials(h.Value())
		if err == nil && cred.realm == c.realm {
			break
		}
	}
	if !found {
		return DigestResult{Err: ErrAuthMissing}
	}
	if err != nil {
		return DigestResult{Username: cred.username, Err: err}
	}
	return c.digestCheck(req.Method.String(), &req.Recipient, &cred)
}

func (c *DigestChallenger) digestCheck(method string, target *gosip.Uri, cred *digestCredentials) DigestResult {
	res := DigestResult{Username: cred.username}
	if cred.realm != c.realm {
		res.Err = ErrAuthRealm
		return res
	}
	alg, ok := digestAlgorithm(cred.algorithm)
	if !ok || !slices.Contains(c.algorithms, alg) {
		res.Err = ErrAuthAlgorithm
		return res
	}
	res.Algorithm = alg
	if cred.qop != "" && !strings.EqualFold(cred.qop, "auth") {
		res.Err = ErrAuthAlgorithm
		return res
	}
	if c.opaque != "" && cred.opaque != c.opaque {
		res.Err = ErrAuthOpaque
		return res
	}
	if !digestURIMatches(cred.uri, target) {
		res.Err = ErrAuthURI
		return res
	}
	var got [sha256.Size]byte
	size := md5.Size
	if alg == DigestSHA256 {
		size = sha256.Size
	}
	if len(cred.response) != 2*size {
		res.Err = ErrAuthMalformed
		return res
	}
	if !digestDecodeHex(got[:size], cred.response) {
		res.Err = ErrAuthMalformed
		return res
	}
	account, ok := c.creds.Credential(cred.username)
	if !ok {
		res.Err = ErrAuthUnknownUser
		return res
	}
	want := digestExpected(alg, method, account.Password, cred)
	if subtle.ConstantTimeCompare(want[:size], got[:size]) != 1 {
		res.Err = ErrAuthBadResponse
		return res
	}
	// The client knows the password; now decide whether this nonce and
	// count may still be used.
	nc := uint32(digestSingleUse)
	if cred.qop != "" {
		nc = cred.nc
	}
	if err := c.digestUseNonce(cred.nonce, nc); err != nil {
		res.Err = err
		return res
	}
	res.Credential = account
	return res
}

// digestUseNonce checks that nonce was issued here, is fresh, and that nc is
// greater than any count used with it before, then records nc.
func (c *DigestChallenger) digestUseNonce(nonce string, nc uint32) error {
	var raw [digestNonceLen]byte
	if len(nonce) != 2*digestNonceLen {
		return ErrAuthUnknownNonce
	}
	if !digestDecodeHex(raw[:], nonce) {
		return ErrAuthUnknownNonce
	}
	if !c.digestMACValid(&raw) {
		return ErrAuthUnknownNonce
	}
	created := int64(binary.BigEndian.Uint64(raw[:digestTSLen]))
	now := c.now().UnixNano()
	if created > now+int64(digestClockSkew) {
		return ErrAuthUnknownNonce
	}
	if now-created > int64(c.ttl) {
		return ErrAuthStaleNonce
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.used[raw]
	if !ok {
		if created <= c.watermark {
			// Dropped from a full map: it may have been used already.
			return ErrAuthStaleNonce
		}
		if len(c.used) >= c.maxNonces {
			c.digestEvictLocked(now)
			if created <= c.watermark {
				return ErrAuthStaleNonce
			}
		}
		c.used[raw] = digestUse{created: created, lastNC: nc}
		return nil
	}
	if nc <= u.lastNC {
		return ErrAuthReplay
	}
	u.lastNC = nc
	c.used[raw] = u
	return nil
}

// digestEvictLocked makes room in the used-nonce map: first by dropping
// expired nonces, then, if that is not enough, the oldest tenth, raising the
// watermark so that none of them can be accepted again.
func (c *DigestChallenger) digestEvictLocked(now int64) {
	c.digestSweepLocked(now)
	if len(c.used) < c.maxNonces {
		return
	}
	stamps := make([]int64, 0, len(c.used))
	for _, u := range c.used {
		stamps = append(stamps, u.created)
	}
	slices.Sort(stamps)
	cutoff := stamps[len(stamps)/10]
	for k, u := range c.used {
		if u.created <= cutoff {
			delete(c.used, k)
		}
	}
	c.watermark = max(c.watermark, cutoff)
}

func (c *DigestChallenger) digestSweepLocked(now int64) {
	for k, u := range c.used {
		if now-u.created > int64(c.ttl) {
			delete(c.used, k)
		}
	}
}

// Sweep forgets used nonces that have expired. Registrar.Run calls it
// periodically; without it memory is still bounded by the cap.
func (c *DigestChallenger) Sweep() {
	now := c.now().UnixNano()
	c.mu.Lock()
	c.digestSweepLocked(now)
	c.mu.Unlock()
}

// digestAlgorithm maps the algorithm parameter to a supported name. An
// absent parameter means MD5 (RFC 2617 §3.2.2).
func digestAlgorithm(a string) (string, bool) {
	switch {
	case a == "" || strings.EqualFold(a, DigestMD5):
		return DigestMD5, true
	case strings.EqualFold(a, DigestSHA256):
		return DigestSHA256, true
	}
	return "", false
}

// digestURIMatches reports whether the digest uri names the request's
// target. Scheme and user must agree; the host is not compared because a
// load balancer in front of Teamline may rewrite the Request-URI's host
// (RFC 3261 §22.4 leaves the comparison to the server), and replay is
// prevented by the nonce count instead.
func digestURIMatches(uri string, target *gosip.Uri) bool {
	colon := strings.IndexByte(uri, ':')
	if colon <= 0 {
		return false
	}
	scheme := target.Scheme
	if scheme == "" {
		scheme = "sip"
	}
	if !strings.EqualFold(uri[:colon], scheme) {
		return false
	}
	rest := uri[colon+1:]
	if end := strings.IndexAny(rest, ";?"); end >= 0 {
		rest = rest[:end]
	}
	user := ""
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user = rest[:at]
		if pw := strings.IndexByte(user, ':'); pw >= 0 {
			user = user[:pw]
		}
	}
	return user == target.User
}

// digestExpected computes the response the client should have sent
// (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1) without heap allocations for
// ordinary header sizes.
func digestExpected(alg, method, password string, cred *digestCredentials) [sha256.Size]byte {
	var (
		buf       [512]byte
		ha1, ha2  [2 * sha256.Size]byte
		n1, n2    int
		responded [sha256.Size]byte
	)
	b := append(buf[:0], cred.username...)
	b = append(b, ':')
	b = append(b, cred.realm...)
	b = append(b, ':')
	b = append(b, password...)
	n1 = digestHashHex(alg, b, &ha1)

	b = append(buf[:0], method...)
	b = append(b, ':')
	b = append(b, cred.uri...)
	n2 = digestHashHex(alg, b, &ha2)

	b = append(buf[:0], ha1[:n1]...)
	b = append(b, ':')
	b = append(b, cred.nonce...)
	b = append(b, ':')
	if cred.qop != "" {
		b = append(b, cred.ncRaw...)
		b = append(b, ':')
		b = append(b, cred.cnonce...)
		b = append(b, ':')
		b = append(b, cred.qop...)
		b = append(b, ':')
	}
	b = append(b, ha2[:n2]...)
	if alg == DigestSHA256 {
		responded = sha256.Sum256(b)
	} else {
		sum := md5.Sum(b)
		copy(responded[:], sum[:])
	}
	return responded
}

func digestHashHex(alg string, b []byte, out *[2 * sha256.Size]byte) int {
	if alg == DigestSHA256 {
		sum := sha256.Sum256(b)
		return hex.Encode(out[:], sum[:])
	}
	sum := md5.Sum(b)
	return hex.Encode(out[:], sum[:])
}

// digestQuoteTo writes s as the inside of a quoted-string (RFC 3261 §25.1).
func digestQuoteTo(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case '\r', '\n':
		default:
			b.WriteByte(ch)
		}
	}
}

// digestCredentials are the fields of an Authorization header
// (RFC 3261 §25.1 "credentials", RFC 2617 §3.2.2). Strings point into the
// header value unless a quoted-pair forced a copy.
type digestCredentials struct {
	username, realm, nonce, uri, response string
	algorithm, cnonce, opaque, qop, ncRaw string
	nc                                    uint32
}

// digestParseCredentials parses a Digest Authorization header value. It
// accepts token or quoted-string for every parameter (some phones quote qop
// or nc), rejects duplicates, ignores unknown parameters and requires the
// fields RFC 2617 makes mandatory.
func digestParseCredentials(s string) (digestCredentials, error) {
	var c digestCredentials
	s = digestTrimLWS(s)
	if len(s) < 7 || !strings.EqualFold(s[:6], "Digest") || !digestIsLWS(s[6]) {
		return c, fmt.Errorf("parse authorization scheme: %w", ErrAuthMalformed)
	}
	s = s[7:]
	var seen uint16
	for {
		s = digestTrimLeftLWS(s)
		if s == "" {
			break
		}
		// token
		i := 0
		for i < len(s) && digestIsTokenChar(s[i]) {
			i++
		}
		if i == 0 {
			return c, fmt.Errorf("parse authorization parameter name: %w", ErrAuthMalformed)
		}
		name := s[:i]
		s = digestTrimLeftLWS(s[i:])
		if s == "" || s[0] != '=' {
			return c, fmt.Errorf("parse authorization parameter %q: %w", name, ErrAuthMalformed)
		}
		s = digestTrimLeftLWS(s[1:])
		var value string
		if s != "" && s[0] == '"' {
			v, rest, ok := digestUnquote(s)
			if !ok {
				return c, fmt.Errorf("parse authorization parameter %q: unterminated quoted string: %w", name, ErrAuthMalformed)
			}
			value, s = v, rest
		} else {
			j := 0
			for j < len(s) && digestIsTokenChar(s[j]) {
				j++
			}
			value, s = s[:j], s[j:]
		}
		s = digestTrimLeftLWS(s)
		if s != "" {
			if s[0] != ',' {
				return c, fmt.Errorf("parse authorization after %q: %w", name, ErrAuthMalformed)
			}
			s = s[1:]
		}

		var field *string
		var bit uint16
		switch {
		case strings.EqualFold(name, "username"):
			field, bit = &c.username, 1<<0
		case strings.EqualFold(name, "realm"):
			field, bit = &c.realm, 1<<1
		case strings.EqualFold(name, "nonce"):
			field, bit = &c.nonce, 1<<2
		case strings.EqualFold(name, "uri"):
			field, bit = &c.uri, 1<<3
		case strings.EqualFold(name, "response"):
			field, bit = &c.response, 1<<4
		case strings.EqualFold(name, "algorithm"):
			field, bit = &c.algorithm, 1<<5
		case strings.EqualFold(name, "cnonce"):
			field, bit = &c.cnonce, 1<<6
		case strings.EqualFold(name, "opaque"):
			field, bit = &c.opaque, 1<<7
		case strings.EqualFold(name, "qop"):
			field, bit = &c.qop, 1<<8
		case strings.EqualFold(name, "nc"):
			field, bit = &c.ncRaw, 1<<9
		case strings.EqualFold(name, "userhash"):
			// RFC 7616 §3.4.4: Teamline never offers userhash.
			if strings.EqualFold(value, "true") {
				return c, fmt.Errorf("userhash not offered: %w", ErrAuthAlgorithm)
			}
			continue
		default:
			continue
		}
		if seen&bit != 0 {
			return c, fmt.Errorf("duplicate authorization parameter %q: %w", name, ErrAuthMalformed)
		}
		seen |= bit
		*field = value
	}
	const required = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<4
	if seen&required != required || c.username == "" || c.nonce == "" || c.response == "" {
		return c, fmt.Errorf("authorization lacks username, realm, nonce, uri or response: %w", ErrAuthMalformed)
	}
	if c.qop != "" {
		// RFC 2617 §3.2.2: with qop, cnonce and an 8-digit hex nc are required.
		if c.cnonce == "" || len(c.ncRaw) != 8 {
			return c, fmt.Errorf("authorization with qop lacks cnonce or nc: %w", ErrAuthMalformed)
		}
		var nc uint32
		for i := 0; i < 8; i++ {
			d, ok := digestHexVal(c.ncRaw[i])
			if !ok {
				return c, fmt.Errorf("authorization nc %q: %w", c.ncRaw, ErrAuthMalformed)
			}
			nc = nc<<4 | uint32(d)
		}
		if nc == 0 || nc == digestSingleUse {
			return c, fmt.Errorf("authorization nc %q out of range: %w", c.ncRaw, ErrAuthMalformed)
		}
		c.nc = nc
	}
	return c, nil
}

// digestUnquote reads a quoted-string at the start of s and returns its
// content and the rest of s. It copies only when a quoted-pair is present,
// and refuses control characters.
func digestUnquote(s string) (value, rest string, ok bool) {
	escaped := false
	for i := 1; i < len(s); i++ {
		if ch := s[i]; (ch < 0x20 && ch != '\t') || ch == 0x7f {
			// qdtext and quoted-pair exclude control characters
			// (RFC 3261 §25.1); sipgo has already unfolded the header.
			return "", "", false
		}
		switch s[i] {
		case '\\':
			escaped = true
			i++
			if i < len(s) && ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
				return "", "", false
			}
		case '"':
			if !escaped {
				return s[1:i], s[i+1:], true
			}
			var b strings.Builder
			b.Grow(i)
			for j := 1; j < i; j++ {
				if s[j] == '\\' && j+1 < i {
					j++
				}
				b.WriteByte(s[j])
			}
			return b.String(), s[i+1:], true
		}
	}
	return "", "", false
}

// digestDecodeHex decodes s (upper or lower case) into dst, which must be
// exactly half its length.
func digestDecodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := digestHexVal(s[2*i])
		lo, ok2 := digestHexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func digestHexVal(ch byte) (byte, bool) {
	switch {
	case ch >= '0' && ch <= '9':
		return ch - '0', true
	case ch >= 'a' && ch <= 'f':
		return ch - 'a' + 10, true
	case ch >= 'A' && ch <= 'F':
		return ch - 'A' + 10, true
	}
	return 0, false
}

func digestIsLWS(ch byte) bool { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' }

func digestTrimLeftLWS(s string) string {
	for s != "" && digestIsLWS(s[0]) {
		s = s[1:]
	}
	return s
}

func digestTrimLWS(s string) string {
	s = digestTrimLeftLWS(s)
	for s != "" && digestIsLWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// digestIsTokenChar reports whether ch may appear in a token (RFC 3261 §25.1).
func digestIsTokenChar(ch byte) bool {
	switch {
	case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		return true
	}
	switch ch {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

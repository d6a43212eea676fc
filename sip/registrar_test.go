package sip

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/rs/zerolog"
)

// regLogBuffer collects log output from concurrent handlers.
type regLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *regLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *regLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type regChange struct {
	agentID    string
	registered bool
}

// regBundle is a Registrar served by a real sipgo server on loopback UDP and
// TCP, and a sipgo client to talk to it.
type regBundle struct {
	reg     *Registrar
	clock   *testClock
	logs    *regLogBuffer
	changes chan regChange
	udpAddr *net.UDPAddr
	tcpAddr *net.TCPAddr
	wsAddr  *net.TCPAddr
	client  *sipgo.Client
}

func setupRegistrar(t *testing.T, opts ...RegistrarOption) *regBundle {
	t.Helper()
	b := &regBundle{clock: newTestClock(), logs: &regLogBuffer{}, changes: make(chan regChange, 64)}
	log := zerolog.New(b.logs).Level(zerolog.DebugLevel)
	opts = append([]RegistrarOption{WithRegistrarClock(b.clock.Now)}, opts...)
	b.reg = NewRegistrar(testRealm, testAccounts, log, opts...)
	b.reg.OnChange(func(agentID string, registered bool) {
		select {
		case b.changes <- regChange{agentID, registered}:
		default:
			t.Errorf("change channel full")
		}
	})

	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("teamline-test"),
		sipgo.WithUserAgentTransportLayerOptions(gosip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(gosip.WithTransactionLayerLogger(quiet)))
	if err != nil {
		t.Fatalf("server UA: %v", err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	srv.OnRegister(b.reg.HandleRegister)

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen tcp: %v", err)
	}
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen ws: %v", err)
	}
	b.udpAddr = pc.LocalAddr().(*net.UDPAddr)
	b.tcpAddr = ln.Addr().(*net.TCPAddr)
	b.wsAddr = wln.Addr().(*net.TCPAddr)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = srv.ServeUDP(pc) }()
	go func() { defer wg.Done(); _ = srv.ServeTCP(ln) }()
	go func() { defer wg.Done(); _ = srv.ServeWS(wln) }()
	t.Cleanup(func() {
		_ = pc.Close()
		_ = ln.Close()
		_ = wln.Close()
		wg.Wait()
	})

	cua, err := sipgo.NewUA(sipgo.WithUserAgent("alice"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(gosip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(gosip.WithTransactionLayerLogger(quiet)))
	if err != nil {
		t.Fatalf("client UA: %v", err)
	}
	t.Cleanup(func() { _ = cua.Close() })
	b.client, err = sipgo.NewClient(cua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(quiet))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return b
}

// target is the Request-URI of the registrar over transport.
func (b *regBundle) target(transport string) gosip.Uri {
	u := gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: b.udpAddr.Port}
	switch transport {
	case "tcp":
		u.Port = b.tcpAddr.Port
		u.UriParams = gosip.HeaderParams{{K: "transport", V: "tcp"}}
	case "ws":
		u.Port = b.wsAddr.Port
		u.UriParams = gosip.HeaderParams{{K: "transport", V: "ws"}}
	}
	return u
}

// regReq describes one REGISTER.
type regReq struct {
	transport string   // "udp" (default), "tcp" or "ws"
	aor       string   // To user; defaults to user
	user      string   // digest username
	pass      string   // digest password; empty = don't answer the challenge
	callID    string   // defaults to "cid-"+user
	cseq      uint32   // defaults to 1
	contacts  []string // Contact header values
	expires   string   // Expires header; empty = none
	alg       string   // "" = sipgo's own DoDigestAuth, else answer this algorithm's challenge
}

// do sends the REGISTER, answers a 401 if a password is given, and returns
// the final response and the CSeq used last.
func (b *regBundle) do(t *testing.T, r regReq) (*gosip.Response, uint32) {
	t.Helper()
	if r.transport == "" {
		r.transport = "udp"
	}
	if r.aor == "" {
		r.aor = r.user
	}
	if r.callID == "" {
		r.callID = "cid-" + r.user
	}
	if r.cseq == 0 {
		r.cseq = 1
	}
	build := func(cseq uint32, authz string) *gosip.Request {
		req := gosip.NewRequest(gosip.REGISTER, b.target(r.transport))
		req.AppendHeader(&gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: r.aor, Host: testRealm},
			Params: gosip.HeaderParams{{K: "tag", V: gosip.GenerateTagN(8)}}})
		req.AppendHeader(&gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: r.aor, Host: testRealm}})
		cid := gosip.CallIDHeader(r.callID)
		req.AppendHeader(&cid)
		req.AppendHeader(&gosip.CSeqHeader{SeqNo: cseq, MethodName: gosip.REGISTER})
		for _, c := range r.contacts {
			req.AppendHeader(gosip.NewHeader("Contact", c))
		}
		if r.expires != "" {
			req.AppendHeader(gosip.NewHeader("Expires", r.expires))
		}
		if authz != "" {
			req.AppendHeader(gosip.NewHeader("Authorization", authz))
		}
		req.SetBody(nil)
		return req
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := build(r.cseq, "")
	res, err := b.client.Do(ctx, req)
	if err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	if res.StatusCode != 401 || r.pass == "" {
		return res, r.cseq
	}
	if r.alg == "" {
		res, err = b.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: r.user, Password: r.pass})
		if err != nil {
			t.Fatalf("REGISTER with sipgo digest: %v", err)
		}
		return res, req.CSeq().SeqNo
	}
	var chal string
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		if c, err := digest.ParseChallenge(h.Value()); err == nil && c.Algorithm == r.alg {
			chal = h.Value()
		}
	}
	if chal == "" {
		t.Fatalf("no %s challenge in %v", r.alg, res.GetHeaders("WWW-Authenticate"))
	}
	target := b.target(r.transport)
	authz := testAuthorization(t, chal, "REGISTER", target.Addr(), r.user, r.pass, 1)
	res, err = b.client.Do(ctx, build(r.cseq+1, authz))
	if err != nil {
		t.Fatalf("REGISTER with %s: %v", r.alg, err)
	}
	return res, r.cseq + 1
}

// waitChange waits (bounded) for the next OnChange call.
func (b *regBundle) waitChange(t *testing.T) regChange {
	t.Helper()
	select {
	case c := <-b.changes:
		return c
	case <-time.After(5 * time.Second):
		t.Fatalf("no registration change reported")
		return regChange{}
	}
}

func (b *regBundle) noChange(t *testing.T) {
	t.Helper()
	select {
	case c := <-b.changes:
		t.Fatalf("unexpected change %+v", c)
	default:
	}
}

// resContacts maps contact URI to the expires the 200 OK reports.
func resContacts(t *testing.T, res *gosip.Response) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*gosip.ContactHeader)
		if !ok {
			t.Fatalf("contact header %T", h)
		}
		v, _ := c.Params.Get("expires")
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("contact %s expires %q", c.Value(), v)
		}
		out[c.Address.String()] = n
	}
	return out
}

func TestRegistrarRegister(t *testing.T) {
	t.Parallel()
	tests := []struct {
		transport, alg string
	}{
		{"udp", ""},
		{"udp", DigestMD5},
		{"udp", DigestSHA256},
		{"tcp", ""},
		{"tcp", DigestMD5},
		{"ws", ""},
	}
	for _, tt := range tests {
		t.Run(tt.transport+"/"+tt.alg, func(t *testing.T) {
			t.Parallel()
			b := setupRegistrar(t)
			res, cseq := b.do(t, regReq{transport: tt.transport, user: "alice", pass: "s3cret-alice", alg: tt.alg,
				contacts: []string{"<sip:alice@127.0.0.1:5099>"}, expires: "600"})
			if res.StatusCode != 200 {
				t.Fatalf("status %d %s", res.StatusCode, res.Reason)
			}
			if got := resContacts(t, res); len(got) != 1 || got["sip:alice@127.0.0.1:5099"] != 600 {
				t.Errorf("200 contacts = %v", got)
			}
			date := res.GetHeader("Date")
			if date == nil {
				t.Fatal("no Date header")
			}
			if d, err := time.Parse(http.TimeFormat, date.Value()); err != nil || !d.Equal(b.clock.Now().Truncate(time.Second)) {
				t.Errorf("Date = %q (%v)", date.Value(), err)
			}
			bs := b.reg.Bindings("alice")
			if len(bs) != 1 {
				t.Fatalf("bindings = %+v", bs)
			}
			got := bs[0]
			if got.AgentID != "agent-alice" || got.Username != "alice" || got.Transport != tt.transport ||
				got.CallID != "cid-alice" || got.CSeq != cseq || got.Contact.String() != "sip:alice@127.0.0.1:5099" ||
				!got.Expires.Equal(b.clock.Now().Add(600*time.Second)) {
				t.Errorf("binding = %+v", got)
			}
			if host, port, err := net.SplitHostPort(got.Source); err != nil || host != "127.0.0.1" || port == "0" {
				t.Errorf("source = %q", got.Source)
			}
			if byAgent := b.reg.BindingsByAgent("agent-alice"); len(byAgent) != 1 {
				t.Errorf("by agent = %+v", byAgent)
			}
			if c := b.waitChange(t); c != (regChange{"agent-alice", true}) {
				t.Errorf("change = %+v", c)
			}
			logs := b.logs.String()
			if !strings.Contains(logs, `"message":"registered"`) || strings.Contains(logs, "s3cret-alice") {
				t.Errorf("logs: %s", logs)
			}
		})
	}
}

func TestRegistrarRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		req        regReq
		wantStatus int
		wantLog    string
	}{
		{name: "no credentials", req: regReq{user: "alice", contacts: []string{"<sip:alice@127.0.0.1:5099>"}}, wantStatus: 401},
		{name: "wrong password", req: regReq{user: "alice", pass: "letmein", contacts: []string{"<sip:alice@127.0.0.1:5099>"}},
			wantStatus: 403, wantLog: "wrong digest response"},
		{name: "wrong password MD5", req: regReq{user: "alice", pass: "letmein", alg: DigestMD5, contacts: []string{"<sip:alice@127.0.0.1:5099>"}},
			wantStatus: 403, wantLog: "wrong digest response"},
		{name: "unknown user", req: regReq{user: "mallory", pass: "x", contacts: []string{"<sip:m@127.0.0.1:5099>"}},
			wantStatus: 403, wantLog: "unknown digest username"},
		{name: "other agent's AOR", req: regReq{aor: "alice", user: "bob", pass: "b0b!pass", contacts: []string{"<sip:alice@127.0.0.1:5099>"}},
			wantStatus: 403, wantLog: "to user differs"},
		{name: "too brief", req: regReq{user: "alice", pass: "s3cret-alice", contacts: []string{"<sip:alice@127.0.0.1:5099>"}, expires: "30"},
			wantStatus: 423},
		{name: "too brief per contact", req: regReq{user: "alice", pass: "s3cret-alice", contacts: []string{"<sip:alice@127.0.0.1:5099>;expires=5"}},
			wantStatus: 423},
		{name: "wildcard without expires 0", req: regReq{user: "alice", pass: "s3cret-alice", contacts: []string{"*"}, expires: "60"},
			wantStatus: 400},
		{name: "wildcard with another contact", req: regReq{user: "alice", pass: "s3cret-alice", contacts: []string{"*", "<sip:a@127.0.0.1>"}, expires: "0"},
			wantStatus: 400},
		{name: "bad Expires", req: regReq{user: "alice", pass: "s3cret-alice", contacts: []string{"<sip:alice@127.0.0.1:5099>"}, expires: "soon"},
			wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupRegistrar(t)
			res, _ := b.do(t, tt.req)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status %d %s, want %d", res.StatusCode, res.Reason, tt.wantStatus)
			}
			switch tt.wantStatus {
			case 401:
				hs := res.GetHeaders("WWW-Authenticate")
				if len(hs) != 2 || !strings.Contains(hs[0].Value(), "algorithm=SHA-256") || !strings.Contains(hs[1].Value(), "algorithm=MD5") {
					t.Errorf("challenges = %v", hs)
				}
			case 423:
				if h := res.GetHeader("Min-Expires"); h == nil || h.Value() != "60" {
					t.Errorf("Min-Expires = %v", h)
				}
			}
			if len(b.reg.Bindings(tt.req.aor+tt.req.user)) != 0 || len(b.reg.Bindings("alice")) != 0 {
				t.Errorf("binding created")
			}
			logs := b.logs.String()
			if tt.wantLog != "" && !strings.Contains(logs, tt.wantLog) {
				t.Errorf("log lacks %q: %s", tt.wantLog, logs)
			}
			if tt.wantStatus == 403 && !strings.Contains(logs, `"source":"127.0.0.1:`) {
				t.Errorf("log lacks source: %s", logs)
			}
			for _, secret := range []string{"letmein", "s3cret-alice", "b0b!pass", "response="} {
				if strings.Contains(logs, secret) {
					t.Errorf("log leaks %q: %s", secret, logs)
				}
			}
			b.noChange(t)
		})
	}
}

func TestRegistrarContacts(t *testing.T) {
	t.Parallel()
	b := setupRegistrar(t)
	const c1, c2, c3 = "sip:alice@127.0.0.1:5099", "sip:alice@127.0.0.1:5098;transport=tcp", "sip:alice@198.51.100.7:5060"

	// Two contacts in one REGISTER, one with its own expiry; a third from
	// another device (Call-ID).
	res, cseq := b.do(t, regReq{user: "alice", pass: "s3cret-alice", expires: "900",
		contacts: []string{"<" + c1 + ">", "<" + c2 + ">;expires=7200"}})
	if res.StatusCode != 200 {
		t.Fatalf("first: %d", res.StatusCode)
	}
	if got := resContacts(t, res); len(got) != 2 || got[c1] != 900 || got[c2] != 3600 {
		t.Fatalf("first contacts = %v", got)
	}
	b.waitChange(t)
	res, _ = b.do(t, regReq{user: "alice", pass: "s3cret-alice", callID: "desk-phone", contacts: []string{"<" + c3 + ">"}})
	if got := resContacts(t, res); res.StatusCode != 200 || len(got) != 3 || got[c3] != 3600 {
		t.Fatalf("second: %d %v", res.StatusCode, got)
	}

	// A query (no Contact) lists all and changes nothing.
	b.clock.Advance(100 * time.Second)
	res, cseq = b.do(t, regReq{user: "alice", pass: "s3cret-alice", cseq: cseq + 1})
	if got := resContacts(t, res); res.StatusCode != 200 || len(got) != 3 || got[c1] != 800 || got[c3] != 3500 {
		t.Fatalf("query: %d %v", res.StatusCode, got)
	}

	// Refresh c1 on the same Call-ID with a higher CSeq.
	res, cseq = b.do(t, regReq{user: "alice", pass: "s3cret-alice", cseq: cseq + 1, contacts: []string{"<" + c1 + ">"}, expires: "600"})
	if got := resContacts(t, res); res.StatusCode != 200 || got[c1] != 600 {
		t.Fatalf("refresh: %d %v", res.StatusCode, got)
	}

	// Out of order: same Call-ID, lower CSeq (RFC 3261 §10.3 step 7).
	// The digest exchange adds one to the CSeq, so start two below.
	res, _ = b.do(t, regReq{user: "alice", pass: "s3cret-alice", cseq: cseq - 2, contacts: []string{"<" + c1 + ">"}, expires: "0"})
	if res.StatusCode != 500 {
		t.Fatalf("out of order: %d", res.StatusCode)
	}
	if n := len(b.reg.Bindings("alice")); n != 3 {
		t.Fatalf("out-of-order REGISTER changed bindings: %d", n)
	}

	// Expires: 0 removes that contact only; the contact URI compares per
	// RFC 3261 §19.1.4 (host case-insensitive).
	res, cseq = b.do(t, regReq{user: "alice", pass: "s3cret-alice", cseq: cseq + 1,
		contacts: []string{"<sip:alice@127.0.0.1:5098;transport=TCP>"}, expires: "0"})
	if got := resContacts(t, res); res.StatusCode != 200 || len(got) != 2 || got[c2] != 0 {
		t.Fatalf("remove one: %d %v", res.StatusCode, got)
	}
	b.noChange(t)

	// "*" with Expires: 0 removes everything.
	res, _ = b.do(t, regReq{user: "alice", pass: "s3cret-alice", cseq: cseq + 1, contacts: []string{"*"}, expires: "0"})
	if res.StatusCode != 200 || len(res.GetHeaders("Contact")) != 0 {
		t.Fatalf("wildcard: %d %v", res.StatusCode, res.GetHeaders("Contact"))
	}
	if n := len(b.reg.Bindings("alice")); n != 0 {
		t.Fatalf("after wildcard %d bindings", n)
	}
	if c := b.waitChange(t); c != (regChange{"agent-alice", false}) {
		t.Fatalf("change = %+v", c)
	}
	if !strings.Contains(b.logs.String(), `"message":"unregistered"`) {
		t.Errorf("no unregister log")
	}
}

func TestRegistrarExpiry(t *testing.T) {
	t.Parallel()
	b := setupRegistrar(t, WithRegistrarSweepInterval(10*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.reg.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	res, _ := b.do(t, regReq{user: "bob", pass: "b0b!pass", contacts: []string{"<sip:bob@127.0.0.1:6000>"}, expires: "120"})
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if c := b.waitChange(t); c != (regChange{"agent-bob", true}) {
		t.Fatalf("change = %+v", c)
	}
	b.clock.Advance(119 * time.Second)
	if n := len(b.reg.Bindings("bob")); n != 1 {
		t.Fatalf("before expiry %d bindings", n)
	}
	b.clock.Advance(time.Second)
	if n := len(b.reg.BindingsByAgent("agent-bob")); n != 0 {
		t.Fatalf("at expiry %d bindings", n)
	}
	// Run notices and reports it.
	if c := b.waitChange(t); c != (regChange{"agent-bob", false}) {
		t.Fatalf("change = %+v", c)
	}
	if !strings.Contains(b.logs.String(), "registration expired") {
		t.Errorf("no expiry log")
	}
	// Registering again reports the agent back.
	res, _ = b.do(t, regReq{user: "bob", pass: "b0b!pass", callID: "again", contacts: []string{"<sip:bob@127.0.0.1:6000>"}})
	if res.StatusCode != 200 {
		t.Fatalf("again: %d", res.StatusCode)
	}
	if c := b.waitChange(t); c != (regChange{"agent-bob", true}) {
		t.Fatalf("change = %+v", c)
	}
}

func TestRegistrarMaxContacts(t *testing.T) {
	t.Parallel()
	b := setupRegistrar(t, WithRegistrarMaxContacts(2))
	for i := range 3 {
		res, _ := b.do(t, regReq{user: "alice", pass: "s3cret-alice", callID: fmt.Sprintf("tab-%d", i),
			contacts: []string{fmt.Sprintf("<sip:tab%d@x.invalid;transport=ws>", i)}})
		if res.StatusCode != 200 {
			t.Fatalf("tab %d: %d", i, res.StatusCode)
		}
		b.clock.Advance(time.Second)
	}
	bs := b.reg.Bindings("alice")
	if len(bs) != 2 {
		t.Fatalf("bindings = %d", len(bs))
	}
	for _, x := range bs {
		if x.Contact.User == "tab0" {
			t.Errorf("oldest contact kept")
		}
	}
}

// A challenge answered after the nonce expired gets stale=true, and sipgo's
// client can then register with the new nonce.
func TestRegistrarStaleNonce(t *testing.T) {
	t.Parallel()
	b := setupRegistrar(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := gosip.NewRequest(gosip.REGISTER, b.target("udp"))
	req.AppendHeader(&gosip.ToHeader{Address: gosip.Uri{Scheme: "sip", User: "alice", Host: testRealm}})
	req.AppendHeader(&gosip.FromHeader{Address: gosip.Uri{Scheme: "sip", User: "alice", Host: testRealm},
		Params: gosip.HeaderParams{{K: "tag", V: "x1"}}})
	req.AppendHeader(gosip.NewHeader("Contact", "<sip:alice@127.0.0.1:5099>"))
	res, err := b.client.Do(ctx, req)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("first: %v %v", res, err)
	}
	b.clock.Advance(DefaultDigestNonceTTL + time.Second)
	res, err = b.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "alice", Password: "s3cret-alice"})
	if err != nil || res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatalf("stale: %v %v", res, err)
	}
	res, err = b.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "alice", Password: "s3cret-alice"})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("retry: %v %v", res, err)
	}
}

// Bad input must get an answer where one is possible and never stop the
// server.
func TestRegistrarSurvivesMalformed(t *testing.T) {
	t.Parallel()
	b := setupRegistrar(t)
	conn, err := net.DialUDP("udp", nil, b.udpAddr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	local := conn.LocalAddr().String()
	raw := func(branch, extra string) string {
		return "REGISTER sip:127.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + branch + "\r\n" +
			"Max-Forwards: 70\r\n" +
			"From: <sip:alice@teamline.test>;tag=1\r\n" +
			"To: <sip:alice@teamline.test>\r\n" +
			"Call-ID: raw-" + branch + "\r\n" +
			"CSeq: 1 REGISTER\r\n" + extra +
			"Content-Length: 0\r\n\r\n"
	}
	tests := []struct {
		name, msg  string
		wantStatus int // 0: no answer expected (sipgo drops it)
	}{
		{name: "garbage", msg: "\x00\x01 not sip at all\r\n\r\n"},
		{name: "broken contact", msg: raw("b1", "Contact: <sip:\r\n")},
		{name: "truncated", msg: "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP"},
		{name: "no To", msg: strings.Replace(raw("b2", ""), "To: <sip:alice@teamline.test>\r\n", "", 1), wantStatus: 400},
		{name: "garbage authorization", msg: raw("b3", "Contact: <sip:a@127.0.0.1>\r\nAuthorization: Digest ,,,=\"\r\n"), wantStatus: 401},
		{name: "huge nc", msg: raw("b4", "Contact: <sip:a@127.0.0.1>\r\nAuthorization: Digest username=\"alice\", realm=\"teamline.test\", nonce=\"x\", uri=\"sip:127.0.0.1\", response=\"00\", qop=auth, nc=ffffffffff, cnonce=\"c\"\r\n"), wantStatus: 401},
		{name: "unknown user, bad hash length", msg: raw("b5", "Contact: <sip:a@127.0.0.1>\r\nAuthorization: Digest username=\"eve\", realm=\"teamline.test\", nonce=\"x\", uri=\"sip:127.0.0.1\", response=\"zz\"\r\n"), wantStatus: 401},
	}
	buf := make([]byte, 4096)
	for _, tt := range tests {
		if _, err := conn.Write([]byte(tt.msg)); err != nil {
			t.Fatalf("%s: write: %v", tt.name, err)
		}
		if tt.wantStatus == 0 {
			continue
		}
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%s: no answer: %v", tt.name, err)
		}
		msg, err := gosip.ParseMessage(buf[:n])
		if err != nil {
			t.Fatalf("%s: parse answer: %v", tt.name, err)
		}
		res, ok := msg.(*gosip.Response)
		if !ok || res.StatusCode != tt.wantStatus {
			t.Fatalf("%s: answer %s, want %d", tt.name, msg.String(), tt.wantStatus)
		}
	}
	// Still serving, on both transports.
	for _, tp := range []string{"udp", "tcp"} {
		res, _ := b.do(t, regReq{transport: tp, user: "alice", pass: "s3cret-alice", callID: "after-" + tp,
			contacts: []string{"<sip:alice@127.0.0.1:5099;transport=" + tp + ">"}})
		if res.StatusCode != 200 {
			t.Fatalf("%s after malformed input: %d", tp, res.StatusCode)
		}
	}
}

func TestRegURIEqual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"sip:alice@127.0.0.1:5060", "sip:alice@127.0.0.1:5060", true},
		{"sip:alice@Example.COM", "SIP:alice@example.com", true},
		{"sip:alice@example.com", "sip:ALICE@example.com", false},
		{"sip:alice@example.com", "sip:alice@example.com:5060", false},
		{"sip:alice@example.com;transport=tcp", "sip:alice@example.com", false},
		{"sip:alice@example.com;transport=tcp", "sip:alice@example.com;transport=TCP", true},
		{"sip:alice@example.com;ob", "sip:alice@example.com", true},
		{"sip:alice@example.com;rinstance=1", "sip:alice@example.com;rinstance=2", false},
	}
	for _, tt := range tests {
		var a, b gosip.Uri
		if err := gosip.ParseUri(tt.a, &a); err != nil {
			t.Fatalf("parse %q: %v", tt.a, err)
		}
		if err := gosip.ParseUri(tt.b, &b); err != nil {
			t.Fatalf("parse %q: %v", tt.b, err)
		}
		if got := regURIEqual(&a, &b); got != tt.want {
			t.Errorf("%s == %s: %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// Bindings returns copies: changing one does not change the registrar.
func TestRegistrarBindingsAreCopies(t *testing.T) {
	t.Parallel()
	b := setupRegistrar(t)
	res, _ := b.do(t, regReq{user: "alice", pass: "s3cret-alice", contacts: []string{"<sip:alice@127.0.0.1:5099;transport=udp>"}})
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	bs := b.reg.Bindings("alice")
	bs[0].Contact.Host = "evil.example"
	bs[0].Contact.UriParams[0].V = "tcp"
	if got := b.reg.Bindings("alice")[0].Contact.String(); got != "sip:alice@127.0.0.1:5099;transport=udp" {
		t.Fatalf("binding changed through a copy: %s", got)
	}
}

// BenchmarkRegistrarRefresh measures the registrar's share of a refreshing
// REGISTER (after authentication): one contact of one of many agents.
func BenchmarkRegistrarRefresh(b *testing.B) {
	reg := NewRegistrar(testRealm, testAccounts, zerolog.Nop())
	var contact gosip.Uri
	if err := gosip.ParseUri("sip:alice@192.0.2.10:5060;transport=udp", &contact); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		u := fmt.Sprintf("agent%d", i)
		bd := Binding{AgentID: u, Username: u, Transport: "udp", Source: "192.0.2.10:5060", CallID: u, CSeq: 1}
		if _, err := reg.regApply(zerolog.Nop(), bd, []regContact{{uri: contact, expires: 3600}}, false, false); err != nil {
			b.Fatal(err)
		}
	}
	bd := Binding{AgentID: "agent-alice", Username: "alice", Transport: "udp", Source: "192.0.2.10:5060", CallID: "c"}
	b.ReportAllocs()
	for b.Loop() {
		bd.CSeq++
		if _, err := reg.regApply(zerolog.Nop(), bd, []regContact{{uri: contact, expires: 3600}}, false, false); err != nil {
			b.Fatal(err)
		}
	}
}

// ExampleRegistrar wires the registrar into a sipgo server. Browser agents
// (JsSIP) and baresip 1.0 only understand MD5 challenges, hence the option.
func ExampleRegistrar() {
	ua, _ := sipgo.NewUA()
	defer func() { _ = ua.Close() }()
	srv, _ := sipgo.NewServer(ua)
	reg := NewRegistrar("teamline.example", testAccounts, zerolog.Nop(),
		WithRegistrarDigestOptions(WithDigestAlgorithms(DigestMD5)))
	srv.OnRegister(reg.HandleRegister)
	reg.OnChange(func(agentID string, registered bool) {
		fmt.Println(agentID, registered)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go reg.Run(ctx)
	fmt.Println(len(reg.BindingsByAgent("agent-alice")))
	// Output: 0
}

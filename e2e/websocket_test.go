package e2e

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"

	"github.com/teamline/teamline/config"
)

// upgradeStatus sends a WebSocket upgrade request and returns the status
// line's code.
func upgradeStatus(t *testing.T, addr, origin, protocol string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if origin != "" {
		req += "Origin: " + origin + "\r\n"
	}
	if protocol != "" {
		req += "Sec-WebSocket-Protocol: " + protocol + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer to the upgrade: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		t.Fatalf("bad status line %q", line)
	}
	return fields[1]
}

// Browser agents' transport: a WebSocket upgrade from a page of another
// origin is refused, one without the "sip" subprotocol too; an agent
// registers over WebSocket with digest auth, and its binding goes away when
// the socket closes.
func TestWebSocketRegistrationFollowsTheSocket(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{edit: func(c *config.Config) {
		c.SIP.WS = "127.0.0.1:0"
		c.SIP.WSOrigins = []string{"http://console.test"}
	}})
	ws := tl.app.SIP.WSAddr()

	if got := upgradeStatus(t, ws.String(), "http://evil.test", "sip"); got != "403" {
		t.Fatalf("upgrade from another origin: %s, want 403", got)
	}
	if got := upgradeStatus(t, ws.String(), "http://console.test", "chat"); got != "400" {
		t.Fatalf("upgrade without the sip subprotocol: %s, want 400", got)
	}
	if got := upgradeStatus(t, ws.String(), "http://console.test", "sip"); got != "101" {
		t.Fatalf("upgrade from the console's origin: %s, want 101", got)
	}

	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua)
	if err != nil {
		t.Fatal(err)
	}
	ctx := waitCtx(t, 20*time.Second)
	params := gosip.NewParams()
	params.Add("transport", "ws")
	req := gosip.NewRequest(gosip.REGISTER, gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(ws.Port()), UriParams: params})
	req.SetTransport("WS")
	aor := gosip.Uri{Scheme: "sip", User: "anna", Host: "teamline.test"}
	req.AppendHeader(&gosip.ToHeader{Address: aor})
	from := &gosip.FromHeader{Address: aor, Params: gosip.NewParams()}
	from.Params.Add("tag", gosip.GenerateTagN(8))
	req.AppendHeader(from)
	cparams := gosip.NewParams()
	cparams.Add("transport", "ws")
	req.AppendHeader(&gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: "anna", Host: "r2d2x7.invalid", UriParams: cparams}})
	req.AppendHeader(gosip.NewHeader("Expires", "600"))
	res, err := client.Do(ctx, req)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("first REGISTER over WebSocket: %v %v, want a 401 challenge", res, err)
	}
	// A wrong password over the WebSocket is refused like over UDP.
	bad, err := client.DoDigestAuth(ctx, req.Clone(), res, sipgo.DigestAuth{Username: "anna", Password: "not-annas"})
	if err != nil || (bad.StatusCode != 403 && bad.StatusCode != 401) {
		t.Fatalf("REGISTER with a wrong password over WS: %v %v, want 401/403", bad, err)
	}
	if b := tl.app.SIP.Registrar().BindingsByAgent("anna"); len(b) != 0 {
		t.Fatalf("refused REGISTER over WS left bindings: %+v", b)
	}
	res, err = client.Do(ctx, req.Clone())
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("fresh challenge: %v %v", res, err)
	}
	res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "anna", Password: passAnna})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER with credentials over WebSocket: %v %v", res, err)
	}
	b := tl.app.SIP.Registrar().BindingsByAgent("anna")
	if len(b) != 1 || b[0].Transport != "ws" {
		t.Fatalf("bindings after REGISTER over WS: %+v", b)
	}
	tl.waitAgentState(t, "anna", "available")

	// The browser closes its tab: the binding must go with the socket.
	_ = ua.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(tl.app.SIP.Registrar().BindingsByAgent("anna")) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("binding survived the closed WebSocket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	tl.waitAgentState(t, "anna", "offline")
}

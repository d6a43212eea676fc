package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/teamline/teamline/internal/peer"
)

// A wrong password is refused, an INVITE from outside the trunks gets 403,
// malformed SIP gets 400, and through all of it the server keeps serving.
func TestRefusalsKeepServerServing(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})

	// Wrong password: 403 after the challenge (the registrar never says
	// whether the user exists).
	tl.register(t, "anna", "not-annas-password", peer.FreeUDPPort(t), "403")
	tl.register(t, "nobody", "whatever", peer.FreeUDPPort(t), "403")
	if b := tl.app.SIP.Registrar().BindingsByAgent("anna"); len(b) != 0 {
		t.Fatalf("refused REGISTER left bindings: %+v", b)
	}

	// An INVITE from 127.0.0.2, which is not in the trunk's networks.
	stranger := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_expect.xml", Remote: tl.sip, LocalIP: "127.0.0.2", Timeout: 10 * time.Second,
		Keys: map[string]string{"expect": "403", "caller": erika},
	})
	if code, err := stranger.Wait(waitCtx(t, 15*time.Second)); err != nil || code != 0 {
		t.Fatalf("INVITE from a non-trunk address (expects 403): exit %d, %v", code, err)
	}

	// Malformed requests over UDP: each must get 400 (or be dropped when
	// there is no Via to answer to), never take the server down.
	conn, err := net.Dial("udp", tl.sip)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, msg := range malformed {
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// A request with a broken CSeq but a usable Via must be answered 400.
	bad := "INVITE sip:hotline@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + conn.LocalAddr().String() + ";branch=z9hG4bK-bad-cseq\r\n" +
		"From: <sip:+4930123456@127.0.0.1>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\n" +
		"Call-ID: bad-cseq@test\r\nCSeq: abc INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(bad)); err != nil {
		t.Fatal(err)
	}
	if got := readStatus(t, conn); got != "SIP/2.0 400" {
		t.Fatalf("malformed CSeq: got %q, want a 400", got)
	}

	// Still serving: a trunk call now reaches the (unregistered) team and
	// gets the normal 480.
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_expect.xml", Remote: tl.sip, Timeout: 10 * time.Second,
		Keys: map[string]string{"expect": "480", "caller": erika},
	})
	if code, err := customer.Wait(waitCtx(t, 15*time.Second)); err != nil || code != 0 {
		t.Fatalf("trunk call after bad input (expects 480): exit %d, %v", code, err)
	}
}

// malformed are messages a server must survive (after RFC 4475's spirit):
// garbage, a truncated request, a missing Via, a huge Content-Length.
var malformed = []string{
	"\x00\x01\x02 garbage \xff\xfe",
	"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1",
	"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
	"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK1\r\nContent-Length: 99999999\r\n\r\n",
	"NOTSIP / HTTP/1.1\r\nHost: x\r\n\r\n",
}

func readStatus(t *testing.T, conn net.Conn) string {
	t.Helper()
	buf := make([]byte, 4096)
	deadline := time.Now().Add(3 * time.Second)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return "no response"
			}
			if strings.Contains(err.Error(), "refused") {
				if time.Now().After(deadline) {
					return "no response"
				}
				continue
			}
			return err.Error()
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if strings.Contains(line, "bad-cseq") || strings.HasPrefix(line, "SIP/2.0 400") {
			return line[:len("SIP/2.0 400")]
		}
		if strings.HasPrefix(line, "SIP/2.0") {
			return line
		}
	}
}

var _ = context.Background

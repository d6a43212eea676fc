package e2e

import (
	"net"
	"strings"
	"testing"
	"time"
)

// Invalid messages after RFC 4475 section 3.1.2, written out here from the
// RFC's descriptions. Each must be refused (a 4xx/5xx, or dropped when it
// cannot be answered), never accepted, and the server must keep serving.
var torture = []struct{ name, msg string }{
	{"content length larger than message", "INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-clerr\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: clerr@t\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 9999\r\n\r\nv=0\r\n"},
	{"negative content length", "INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-ncl\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: ncl@t\r\nCSeq: 1 INVITE\r\nContent-Length: -999\r\n\r\n"},
	{"overlarge CSeq", "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-scalar\r\nMax-Forwards: 300\r\nFrom: <sip:anna@teamline.test>;tag=1\r\nTo: <sip:anna@teamline.test>\r\nCall-ID: scalar@t\r\nCSeq: 36893488147419103232 REGISTER\r\nContact: <sip:anna@127.0.0.1:9>\r\nExpires: 10000000000000000000\r\nContent-Length: 0\r\n\r\n"},
	{"unterminated quoted display name", "INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-quot\r\nMax-Forwards: 70\r\nFrom: \"Bell, Alexander <sip:a.g.bell@example.com>;tag=43\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: quot@t\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"},
	{"request-URI in angle brackets", "INVITE <sip:hotline@127.0.0.1> SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-ltgt\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: ltgt@t\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"},
	{"unknown SIP version", "INVITE sip:hotline@127.0.0.1 SIP/7.0\r\nVia: SIP/7.0/UDP 127.0.0.1:9;branch=z9hG4bK-v7\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: v7@t\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"},
	{"method and CSeq method differ", "INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-mism\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: mism@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"},
	{"missing required headers", "INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-min\r\nContent-Length: 0\r\n\r\n"},
	{"multiple SP in request line", "INVITE  sip:hotline@127.0.0.1   SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-sp\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\nCall-ID: sp@t\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"},
	{"CRLF injection in header value", "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-inj\r\nMax-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: inj@t\r\nCSeq: 1 OPTIONS\r\nSubject: a\rInjected: yes\r\nContent-Length: 0\r\n\r\n"},
}

func TestTortureMessagesAreRefusedAndServerKeepsServing(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{})
	conn, err := net.Dial("udp", tl.sip)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 8192)
	for _, tt := range torture {
		if _, err := conn.Write([]byte(tt.msg)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			continue // dropped: acceptable for what cannot be answered
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 ") || strings.HasPrefix(line, "SIP/2.0 2") {
			t.Errorf("%s: answered %q, want a refusal", tt.name, line)
		}
	}
	// Still serving: a plain OPTIONS gets 200.
	ping := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + conn.LocalAddr().String() + ";branch=z9hG4bK-ping\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ping@t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(ping)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no answer to OPTIONS after the torture messages: %v", err)
		}
		if strings.Contains(string(buf[:n]), "ping@t") {
			if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
				t.Fatalf("OPTIONS after torture: %q", strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
			}
			return
		}
	}
}

package sip

import (
	"strings"
	"testing"

	gosip "github.com/emiago/sipgo/sip"
)

func parseReq(t *testing.T, raw string) *gosip.Request {
	t.Helper()
	msg, err := gosip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return msg.(*gosip.Request)
}

func parseRes(t *testing.T, raw string) *gosip.Response {
	t.Helper()
	msg, err := gosip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return msg.(*gosip.Response)
}

const inviteToAgent = "INVITE sip:anna@10.0.0.5:5062;transport=udp SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-leg1\r\n" +
	"From: \"Erika\" <sip:+4930123456@teamline.local>;tag=tl1\r\n" +
	"To: <sip:anna@teamline.local>\r\n" +
	"Call-ID: leg-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n" +
	"Contact: <sip:teamline@127.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n"

func TestBuildCancelMatchesInvite(t *testing.T) {
	t.Parallel()
	inv := parseReq(t, inviteToAgent)
	c := buildCancel(inv)
	// RFC 3261 §9.1: same Request-URI, Call-ID, From, To, CSeq number and top Via.
	if c.Recipient.String() != inv.Recipient.String() || c.CallID().Value() != "leg-1" ||
		c.CSeq().SeqNo != 1 || c.CSeq().MethodName != gosip.CANCEL ||
		c.Via().Value() != inv.Via().Value() || c.From().Value() != inv.From().Value() || c.To().Value() != inv.To().Value() {
		t.Fatalf("CANCEL does not match its INVITE:\n%s", c)
	}
}

func TestAckAndByeFollowTheAnswer(t *testing.T) {
	t.Parallel()
	inv := parseReq(t, inviteToAgent)
	ok := parseRes(t, "SIP/2.0 200 OK\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-leg1\r\n"+
		"Record-Route: <sip:proxy2.example;lr>\r\nRecord-Route: <sip:proxy1.example;lr>\r\n"+
		"From: \"Erika\" <sip:+4930123456@teamline.local>;tag=tl1\r\n"+
		"To: <sip:anna@teamline.local>;tag=agent9\r\n"+
		"Call-ID: leg-1\r\nCSeq: 1 INVITE\r\n"+
		"Contact: <sip:anna@10.0.0.5:5062>\r\nContent-Length: 0\r\n\r\n")
	ack := buildAck(inv, ok)
	if ack.Method != gosip.ACK || ack.CSeq().SeqNo != 1 || ack.Recipient.String() != "sip:anna@10.0.0.5:5062" {
		t.Fatalf("ACK: %s", ack)
	}
	if tag, _ := ack.To().Params.Get("tag"); tag != "agent9" {
		t.Fatalf("ACK To tag = %q", tag)
	}
	routes := ack.GetHeaders("Route")
	if len(routes) != 2 || routes[0].Value() != "<sip:proxy1.example;lr>" {
		t.Fatalf("route set must be the reversed Record-Route: %v", routes)
	}
	bye := buildByeUAC(inv, ok, 2)
	if bye.Method != gosip.BYE || bye.CSeq().SeqNo != 2 || bye.CallID().Value() != "leg-1" {
		t.Fatalf("BYE: %s", bye)
	}
}

func TestByeToCallerSwapsFromAndTo(t *testing.T) {
	t.Parallel()
	inv := parseReq(t, "INVITE sip:hotline@127.0.0.1:5060 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-in\r\n"+
		"Record-Route: <sip:sbc.carrier.example;lr>\r\n"+
		"From: \"Erika\" <sip:+4930123456@carrier.example>;tag=caller1\r\n"+
		"To: <sip:hotline@127.0.0.1>\r\n"+
		"Call-ID: in-1\r\nCSeq: 10 INVITE\r\nMax-Forwards: 70\r\n"+
		"Contact: <sip:+4930123456@192.0.2.7:5070>\r\nContent-Length: 0\r\n\r\n")
	inv.SetSource("192.0.2.7:5070")
	bye := buildByeUAS(inv, "tltag", 1)
	from, to := bye.From(), bye.To()
	if tag, _ := from.Params.Get("tag"); tag != "tltag" || from.Address.User != "hotline" {
		t.Fatalf("BYE From = %s, want Teamline's side with its tag", from.Value())
	}
	if tag, _ := to.Params.Get("tag"); tag != "caller1" || to.Address.User != "+4930123456" {
		t.Fatalf("BYE To = %s, want the caller with their tag", to.Value())
	}
	if bye.Recipient.Host != "192.0.2.7" || bye.Destination() != "192.0.2.7:5070" {
		t.Fatalf("BYE goes to %s via %s", bye.Recipient.String(), bye.Destination())
	}
	if r := bye.GetHeaders("Route"); len(r) != 1 || r[0].Value() != "<sip:sbc.carrier.example;lr>" {
		t.Fatalf("route = %v", r)
	}
}

func TestCallerIDPrefersPAI(t *testing.T) {
	t.Parallel()
	base := "INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
		"From: \"Trunk Name\" <sip:0301234@carrier>;tag=1\r\nTo: <sip:hotline@127.0.0.1>\r\n" +
		"Call-ID: x\r\nCSeq: 1 INVITE\r\n"
	tests := []struct {
		name, extra, display, user string
	}{
		{"from only", "", "Trunk Name", "0301234"},
		{"asserted identity", "P-Asserted-Identity: \"Erika\" <sip:+4930123456@carrier>\r\n", "Erika", "+4930123456"},
		{"tel asserted identity", "P-Asserted-Identity: <tel:+4930123456>\r\n", "", "+4930123456"},
		{"named tel asserted identity", "P-Asserted-Identity: \"Erika\" <tel:+4930123456;cpc=ordinary>\r\n", "Erika", "+4930123456"},
		{"empty tel falls back", "P-Asserted-Identity: <tel:>\r\n", "Trunk Name", "0301234"},
		{"empty asserted user falls back", "P-Asserted-Identity: <sip:carrier>\r\n", "Trunk Name", "0301234"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := parseReq(t, base+tt.extra+"Content-Length: 0\r\n\r\n")
			d, u := callerID(req)
			if d != tt.display || u != tt.user {
				t.Fatalf("callerID = %q %q, want %q %q", d, u, tt.display, tt.user)
			}
		})
	}
}

func TestLegDestination(t *testing.T) {
	t.Parallel()
	contact := func(host string) gosip.Uri { return gosip.Uri{Scheme: "sip", User: "anna", Host: host, Port: 5062} }
	tests := []struct {
		name string
		b    Binding
		want string
	}{
		{"contact is the source host", Binding{Contact: contact("10.0.0.5"), Source: "10.0.0.5:40000"}, ""},
		{"behind NAT", Binding{Contact: contact("192.168.1.9"), Source: "203.0.113.4:40000"}, "203.0.113.4:40000"},
		{"browser contact", Binding{Contact: contact("df7jal23ls0d.invalid"), Source: "10.0.0.5:40000"}, "10.0.0.5:40000"},
		{"no source", Binding{Contact: contact("10.0.0.5")}, ""},
	}
	for _, tt := range tests {
		if got := legDestination(tt.b); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestQuoteDisplay(t *testing.T) {
	t.Parallel()
	if got := quoteDisplay(`Erika "E" \ M` + "\r\n"); got != `Erika \"E\" \\ M` {
		t.Fatalf("quoteDisplay = %q", got)
	}
}

// The tag Teamline answers a caller with is the tag its own BYE carries
// later: every response to one INVITE names the same dialog. (sipgo puts a
// random tag of its own on responses; a caller's phone then refused
// Teamline's BYE with 481.)
func TestResponsesAndByeShareTeamlinesTag(t *testing.T) {
	t.Parallel()
	inv := parseReq(t, "INVITE sip:hotline@127.0.0.1:5060 SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-in\r\n"+
		"From: <sip:+4930123456@carrier.example>;tag=caller1\r\n"+
		"To: <sip:hotline@127.0.0.1>\r\n"+
		"Call-ID: in-2\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"+
		"Contact: <sip:+4930123456@192.0.2.7:5070>\r\nContent-Length: 0\r\n\r\n")
	inv.SetSource("192.0.2.7:5070")
	byeFrom, _ := buildByeUAS(inv, "tltag", 1).From().Params.Get("tag")
	for _, code := range []int{180, 200, 480} {
		res := responseWithTag(inv, code, statusText(code), "tltag", nil)
		if tag, _ := res.To().Params.Get("tag"); tag != byeFrom {
			t.Errorf("%d carries To tag %q, Teamline's BYE From tag %q", code, tag, byeFrom)
		}
	}
	if _, ok := inv.To().Params.Get("tag"); ok {
		t.Errorf("answering changed the INVITE's own To: %s", inv.To().Value())
	}
	// In a dialog (a re-INVITE) the caller's To tag stays as it is.
	re := parseReq(t, strings.Replace(inv.String(), "To: <sip:hotline@127.0.0.1>", "To: <sip:hotline@127.0.0.1>;tag=tltag", 1))
	if tag, _ := responseWithTag(re, 200, "OK", "other", nil).To().Params.Get("tag"); tag != "tltag" {
		t.Errorf("re-INVITE answered with To tag %q, want the dialog's tltag", tag)
	}
}

// A Refer-To's Replaces names the consultation's Call-ID, escaped or not.
func TestReplacesCallID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a84b4c76e66710%3Bto-tag%3D1928301774%3Bfrom-tag%3Da73kszlfl": "a84b4c76e66710",
		"abc+def@host;to-tag=1;from-tag=2":                            "abc+def@host",
		"%20x9@h%3Bto-tag%3D1":                                        "x9@h",
	} {
		if got := replacesCallID(in); got != want {
			t.Errorf("replacesCallID(%q) = %q, want %q", in, got, want)
		}
	}
}

package media

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// teamlineSDP is what Teamline offered an agent: its relay address, and the
// caller's PCMU, PCMA and telephone-event 101.
var teamlineSDP = crlf(`
v=0
o=teamline 3849204 1 IN IP4 192.0.2.10
s=Teamline
c=IN IP4 192.0.2.10
t=0 0
m=audio 20000 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv
`)

// softphoneReoffer is a softphone's re-offer in the shape baresip sends
// when it holds, with direction dir and its audio at 192.0.2.20:port.
func softphoneReoffer(dir, port, formats, extra string) []byte {
	return crlf(`
v=0
o=- 1403170846 76653622 IN IP4 192.0.2.20
s=-
c=IN IP4 192.0.2.20
t=0 0
m=audio ` + port + ` RTP/AVP ` + formats + `
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-15
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=` + dir + `
` + extra)
}

func TestAnswerDirection(t *testing.T) {
	t.Parallel()
	for offer, want := range map[string]string{
		DirectionSendOnly: DirectionRecvOnly,
		DirectionRecvOnly: DirectionSendOnly,
		DirectionInactive: DirectionInactive,
		DirectionSendRecv: DirectionSendRecv,
		"":                DirectionSendRecv,
	} {
		if got := AnswerDirection(offer); got != want {
			t.Errorf("AnswerDirection(%q) = %q, want %q", offer, got, want)
		}
	}
}

func TestAnswerSDP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		offer   []byte
		prefer  string
		formats string // the answer's audio formats
		dir     string
		remote  string // the offer's audio address
		refused int    // m= lines answered with port 0
	}{
		{"hold", softphoneReoffer("sendonly", "10468", "0 8 9 101", ""), "PCMU", "0 101", "recvonly", "192.0.2.20:10468", 0},
		{"resume", softphoneReoffer("sendrecv", "10468", "0 8 9 101", ""), "PCMU", "0 101", "sendrecv", "192.0.2.20:10468", 0},
		{"inactive", softphoneReoffer("inactive", "10468", "0 8 101", ""), "PCMU", "0 101", "inactive", "192.0.2.20:10468", 0},
		{"recvonly", softphoneReoffer("recvonly", "10468", "0 101", ""), "PCMU", "0 101", "sendonly", "192.0.2.20:10468", 0},
		{"keeps the codec the agent speaks", softphoneReoffer("sendonly", "10468", "0 8 101", ""), "PCMA", "8 101", "recvonly", "192.0.2.20:10468", 0},
		{"first of the offer without a preference", softphoneReoffer("sendrecv", "10468", "9 8 0 101", ""), "", "8 101", "sendrecv", "192.0.2.20:10468", 0},
		{"other telephone-event payload type left out", softphoneReoffer("sendrecv", "10468", "0 96", ""), "PCMU", "0", "sendrecv", "192.0.2.20:10468", 0},
		{"new address", softphoneReoffer("sendrecv", "30000", "0 101", ""), "PCMU", "0 101", "sendrecv", "192.0.2.20:30000", 0},
		{"video refused", softphoneReoffer("sendonly", "10468", "0 101", "m=video 10470 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"),
			"PCMU", "0 101", "recvonly", "192.0.2.20:10468", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			answer, remote, err := AnswerSDP(tt.offer, teamlineSDP, tt.prefer)
			if err != nil {
				t.Fatalf("AnswerSDP: %v", err)
			}
			if remote.RTP != netip.MustParseAddrPort(tt.remote) {
				t.Errorf("remote %s, want %s", remote.RTP, tt.remote)
			}
			var sd sdp.SessionDescription
			if err := sd.Unmarshal(answer); err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, answer)
			}
			if sd.Origin.Username != "teamline" || sd.Origin.SessionID != 3849204 || sd.Origin.SessionVersion != 2 {
				t.Errorf("o= %+v, want teamline's session 3849204 version 2", sd.Origin)
			}
			_, mi, err := ParseSDP(answer)
			if err != nil {
				t.Fatalf("ParseSDP(answer): %v\n%s", err, answer)
			}
			if mi.RTP != netip.MustParseAddrPort("192.0.2.10:20000") {
				t.Errorf("answer's audio at %s, want Teamline's 192.0.2.10:20000", mi.RTP)
			}
			if mi.Direction != tt.dir {
				t.Errorf("direction %q, want %q", mi.Direction, tt.dir)
			}
			var formats []string
			for _, c := range mi.Codecs {
				formats = append(formats, strconv.Itoa(int(c.PT)))
			}
			if got := strings.Join(formats, " "); got != tt.formats {
				t.Errorf("formats %q, want %q\n%s", got, tt.formats, answer)
			}
			if len(sd.MediaDescriptions) != 1+tt.refused {
				t.Fatalf("%d m= lines, want the offer's %d", len(sd.MediaDescriptions), 1+tt.refused)
			}
			for _, md := range sd.MediaDescriptions[1:] {
				if md.MediaName.Port.Value != 0 {
					t.Errorf("m=%s answered with port %d, want 0", md.MediaName.Media, md.MediaName.Port.Value)
				}
			}
			if strings.Contains(string(answer), "G722") || strings.Contains(string(answer), "a=ptime") {
				t.Errorf("answer carries what Teamline does not relay:\n%s", answer)
			}
		})
	}
}

func TestAnswerSDPRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		offer []byte
		ours  []byte
		want  error
	}{
		{"no common codec", softphoneReoffer("sendrecv", "10468", "9 101", ""), teamlineSDP, ErrNoCommonCodec},
		{"pcmu under another payload type", crlf(`
v=0
o=- 1 2 IN IP4 192.0.2.20
s=-
c=IN IP4 192.0.2.20
t=0 0
m=audio 10468 RTP/AVP 98
a=rtpmap:98 PCMU/8000
`), teamlineSDP, ErrNoCommonCodec},
		{"no audio", crlf(`
v=0
o=- 1 2 IN IP4 192.0.2.20
s=-
c=IN IP4 192.0.2.20
t=0 0
m=video 10470 RTP/AVP 97
`), teamlineSDP, ErrNoAudio},
		{"broken ours", softphoneReoffer("sendrecv", "10468", "0", ""), []byte("v=0\r\n"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			answer, _, err := AnswerSDP(tt.offer, tt.ours, "PCMU")
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("AnswerSDP = %q, %v; want an error %v", answer, err, tt.want)
			}
		})
	}
}

func TestWithDirection(t *testing.T) {
	t.Parallel()
	body := crlf(`
v=0
o=- 1 2 IN IP4 192.0.2.20
s=-
c=IN IP4 192.0.2.20
t=0 0
a=sendrecv
m=audio 10468 RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
a=ptime:20
`)
	out, err := withDirection(body, DirectionInactive)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(out), "a=inactive"); n != 1 || strings.Contains(string(out), "a=sendrecv") ||
		!strings.Contains(string(out), "a=ptime:20") {
		t.Fatalf("withDirection(inactive):\n%s", out)
	}
	if dir, err := sdpDirection(out); err != nil || dir != DirectionInactive {
		t.Fatalf("direction %q, %v", dir, err)
	}
}

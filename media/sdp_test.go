package media

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// readSDP reads a sample from testdata/sdp. The samples were captured from
// the tools named in their file names (baresip 1.0 calling a SIPp UAS, SIPp's
// built-in uac scenario) except browser-webrtc.sdp, which is written in the
// shape of a Chromium offer.
func readSDP(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sdp", name))
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	return b
}

// crlf turns a readable multi-line literal into an SDP body.
func crlf(s string) []byte {
	s = strings.TrimLeft(s, "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

func codecList(cs []Codec) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%d %s/%d", c.PT, c.Name, c.Rate)
		if c.Channels > 0 {
			parts[i] += fmt.Sprintf("/%d", c.Channels)
		}
		if c.Fmtp != "" {
			parts[i] += " " + c.Fmtp
		}
	}
	return strings.Join(parts, ", ")
}

func TestParseSDP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		body      []byte
		rtp       string
		rtcp      string
		mux       bool
		codecs    string
		direction string
		g711      bool
	}{
		{
			name: "sipp uac", body: readSDP(t, "sipp-uac.sdp"),
			rtp: "127.0.0.1:6000", rtcp: "127.0.0.1:6001",
			codecs: "0 PCMU/8000", direction: "sendrecv", g711: true,
		},
		{
			name: "baresip", body: readSDP(t, "baresip.sdp"),
			rtp: "127.0.0.1:10438", rtcp: "127.0.0.1:10439",
			codecs:    "0 PCMU/8000, 8 PCMA/8000, 9 G722/8000, 96 opus/48000/2 stereo=1;sprop-stereo=1, 101 telephone-event/8000 0-15",
			direction: "sendrecv", g711: true,
		},
		{
			name: "baresip with ice and dtls", body: readSDP(t, "baresip-ice-dtls.sdp"),
			rtp: "192.0.2.2:10468", rtcp: "192.0.2.2:10469",
			codecs:    "0 PCMU/8000, 8 PCMA/8000, 9 G722/8000, 96 opus/48000/2 stereo=1;sprop-stereo=1, 101 telephone-event/8000 0-15",
			direction: "sendrecv", g711: true,
		},
		{
			name: "browser", body: readSDP(t, "browser-webrtc.sdp"),
			rtp: "198.51.100.7:49170", rtcp: "198.51.100.7:49170", mux: true,
			codecs: "111 opus/48000/2 minptime=10;useinbandfec=1, 63 red/48000/2 111/111, 9 G722/8000, 0 PCMU/8000, " +
				"8 PCMA/8000, 13 CN/8000, 110 telephone-event/48000, 126 telephone-event/8000",
			direction: "sendrecv", g711: true,
		},
		{
			name: "hold with zero address, static types without rtpmap",
			body: crlf(`
v=0
o=- 1 2 IN IP4 192.0.2.9
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 4000 RTP/AVP 8 0 18
a=sendonly
`),
			rtp: "0.0.0.0:4000", rtcp: "0.0.0.0:4001",
			codecs: "8 PCMA/8000, 0 PCMU/8000, 18 G729/8000", direction: "sendonly", g711: true,
		},
		{
			name: "session direction, multicast ttl, rtcp port only, disabled first audio",
			body: crlf(`
v=0
o=- 1 2 IN IP4 192.0.2.9
s=-
c=IN IP4 233.252.0.1/127
t=0 0
a=recvonly
m=audio 0 RTP/AVP 0
m=audio 5004 RTP/AVP 96
a=rtpmap:96 opus/48000/2
a=rtcp:5010
`),
			rtp: "233.252.0.1:5004", rtcp: "233.252.0.1:5010",
			codecs: "96 opus/48000/2", direction: "recvonly", g711: false,
		},
		{
			name: "ipv6",
			body: crlf(`
v=0
o=- 1 2 IN IP6 2001:db8::1
s=-
t=0 0
m=audio 7000 RTP/AVP 0 101 abc
c=IN IP6 2001:db8::1
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=inactive
`),
			rtp: "[2001:db8::1]:7000", rtcp: "[2001:db8::1]:7001",
			codecs: "0 PCMU/8000, 101 telephone-event/8000 0-16", direction: "inactive", g711: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sd, mi, err := ParseSDP(tt.body)
			if err != nil {
				t.Fatalf("ParseSDP: %v", err)
			}
			if sd == nil {
				t.Fatal("ParseSDP returned no session description")
			}
			if got := mi.RTP.String(); got != tt.rtp {
				t.Errorf("RTP = %s, want %s", got, tt.rtp)
			}
			if got := mi.RTCP.String(); got != tt.rtcp {
				t.Errorf("RTCP = %s, want %s", got, tt.rtcp)
			}
			if mi.RTCPMux != tt.mux {
				t.Errorf("RTCPMux = %v, want %v", mi.RTCPMux, tt.mux)
			}
			if got := codecList(mi.Codecs); got != tt.codecs {
				t.Errorf("codecs = %q\nwant     %q", got, tt.codecs)
			}
			if mi.Direction != tt.direction {
				t.Errorf("Direction = %q, want %q", mi.Direction, tt.direction)
			}
			if mi.HasG711() != tt.g711 {
				t.Errorf("HasG711 = %v, want %v", mi.HasG711(), tt.g711)
			}
		})
	}
}

func TestParseSDPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    []byte
		noAudio bool
	}{
		{"empty", nil, false},
		{"garbage", []byte("hello world\x00\xff"), false},
		{"sip message instead of sdp", []byte("INVITE sip:a@b SIP/2.0\r\n\r\n"), false},
		{"truncated", readSDP(t, "baresip.sdp")[:40], false},
		{"no media", crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"), true},
		{"video only", crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=video 5000 RTP/AVP 96\n"), true},
		{"audio disabled", crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 0 RTP/AVP 0\n"), true},
		{"no connection line", crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nt=0 0\nm=audio 5000 RTP/AVP 0\n"), false},
		{"host name in c=", crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 pbx.example.com\nt=0 0\nm=audio 5000 RTP/AVP 0\n"), false},
		{"bad port", crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 99999 RTP/AVP 0\n"), false},
		{"bad media type", crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=sound 5000 RTP/AVP 0\n"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sd, _, err := ParseSDP(tt.body)
			if err == nil {
				t.Fatalf("ParseSDP succeeded: %+v", sd)
			}
			if errors.Is(err, ErrNoAudio) != tt.noAudio {
				t.Fatalf("ParseSDP error %v: errors.Is(ErrNoAudio) = %v, want %v", err, !tt.noAudio, tt.noAudio)
			}
			if _, err := RewriteSDP(tt.body, netip.MustParseAddrPort("192.0.2.10:30000"), 1, 1); err == nil {
				t.Fatal("RewriteSDP succeeded on input ParseSDP rejects")
			}
		})
	}
}

// forbidden are line prefixes that must never leave Teamline in a rewritten
// SDP: ICE, DTLS, SDES, WebRTC transport and identity lines.
var forbidden = []string{
	"a=ice-", "a=candidate", "a=end-of-candidates", "a=fingerprint", "a=setup", "a=crypto", "a=rtcp-mux",
	"a=rtcp-fb", "a=rtcp-rsize", "a=extmap", "a=ssrc", "a=msid", "a=mid", "a=group", "a=tool", "a=label",
	"k=", "b=", "i=",
}

func TestRewriteSDP(t *testing.T) {
	t.Parallel()
	local := netip.MustParseAddrPort("192.0.2.10:30000")
	tests := []struct {
		name    string
		body    []byte
		formats []string // formats of the audio m= line after rewriting
		want    []string // lines that must appear
		extraM  []string // other m= lines, in order
	}{
		{
			name: "sipp uac", body: readSDP(t, "sipp-uac.sdp"), formats: []string{"0"},
			want: []string{"a=rtpmap:0 PCMU/8000"},
		},
		{
			name: "baresip", body: readSDP(t, "baresip.sdp"), formats: []string{"0", "8", "101"},
			want: []string{"a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=sendrecv", "a=ptime:20"},
		},
		{
			name: "baresip with ice and dtls", body: readSDP(t, "baresip-ice-dtls.sdp"), formats: []string{"0", "8", "101"},
			want: []string{"a=rtcp:30001 IN IP4 192.0.2.10", "a=fmtp:101 0-15"},
		},
		{
			name: "browser", body: readSDP(t, "browser-webrtc.sdp"), formats: []string{"0", "8", "126"},
			want:   []string{"a=rtcp:30001 IN IP4 192.0.2.10", "a=rtpmap:126 telephone-event/8000", "a=sendrecv"},
			extraM: []string{"m=video 0 UDP/TLS/RTP/SAVPF 96 97"},
		},
		{
			name: "sdes and a second audio stream",
			body: crlf(`
v=0
o=carrier 99 100 IN IP4 192.0.2.50
s=Carrier Session
i=internal info
u=http://carrier.example/
e=noc@carrier.example
p=+1 555 0100
c=IN IP4 192.0.2.50
b=AS:84
t=0 0
k=clear:secret
a=sendonly
m=audio 20000 RTP/SAVP 8 0 13 101
b=AS:64
k=clear:secret
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=maxptime:40
m=audio 20002 RTP/AVP 0
a=rtpmap:0 PCMU/8000
`),
			formats: []string{"8", "0", "101"},
			want:    []string{"a=sendonly", "a=fmtp:101 0-16", "a=maxptime:40"},
			extraM:  []string{"m=audio 0 RTP/AVP 0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := RewriteSDP(tt.body, local, 4242, 7)
			if err != nil {
				t.Fatalf("RewriteSDP: %v", err)
			}
			text := string(out)
			lines := strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n")

			sd, mi, err := ParseSDP(out)
			if err != nil {
				t.Fatalf("rewritten SDP does not parse: %v\n%s", err, text)
			}
			if mi.RTP != local {
				t.Errorf("rewritten RTP = %s, want %s", mi.RTP, local)
			}
			o := sd.Origin
			if o.Username != "teamline" || o.SessionID != 4242 || o.SessionVersion != 7 || o.UnicastAddress != "192.0.2.10" || o.AddressType != "IP4" {
				t.Errorf("o= = %+v, want teamline 4242 7 IN IP4 192.0.2.10", o)
			}
			audio := sd.MediaDescriptions[slices.IndexFunc(sd.MediaDescriptions, func(md *sdp.MediaDescription) bool {
				return md.MediaName.Port.Value != 0
			})]
			if !slices.Equal(audio.MediaName.Formats, tt.formats) {
				t.Errorf("audio formats = %v, want %v", audio.MediaName.Formats, tt.formats)
			}
			if got := strings.Join(audio.MediaName.Protos, "/"); got != "RTP/AVP" {
				t.Errorf("audio profile = %s, want RTP/AVP", got)
			}
			for _, l := range lines {
				for _, f := range forbidden {
					if strings.HasPrefix(l, f) {
						t.Errorf("forbidden line %q in\n%s", l, text)
					}
				}
				if strings.HasPrefix(l, "c=") && l != "c=IN IP4 192.0.2.10" {
					t.Errorf("connection line %q, want c=IN IP4 192.0.2.10", l)
				}
				if strings.HasPrefix(l, "a=rtpmap:") || strings.HasPrefix(l, "a=fmtp:") {
					pt := strings.Fields(strings.SplitN(l, ":", 2)[1])[0]
					if !slices.Contains(tt.formats, pt) {
						t.Errorf("%q describes a format not on the m= line", l)
					}
				}
				for _, name := range []string{"opus", "G722", "CN/", "red/", "telephone-event/48000", "VP8"} {
					if strings.Contains(l, name) {
						t.Errorf("dropped codec %s still described: %q", name, l)
					}
				}
			}
			if !slices.Contains(lines, "s=Teamline") {
				t.Errorf("no s=Teamline in\n%s", text)
			}
			for _, w := range tt.want {
				if !slices.Contains(lines, w) {
					t.Errorf("missing line %q in\n%s", w, text)
				}
			}
			var ms []string
			for _, l := range lines {
				if strings.HasPrefix(l, "m=") {
					ms = append(ms, l)
				}
			}
			if want := len(sd.MediaDescriptions); len(ms) != want || len(ms) != 1+len(tt.extraM) {
				t.Fatalf("m= lines = %q, want the audio line plus %q", ms, tt.extraM)
			}
			var others []string
			for _, m := range ms {
				if !strings.HasPrefix(m, "m=audio 30000 ") {
					others = append(others, m)
				}
			}
			if !slices.Equal(others, tt.extraM) {
				t.Errorf("other m= lines = %q, want %q", others, tt.extraM)
			}
		})
	}
}

func TestRewriteSDPGolden(t *testing.T) {
	t.Parallel()
	out, err := RewriteSDP(readSDP(t, "baresip.sdp"), netip.MustParseAddrPort("127.0.0.1:20000"), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := string(crlf(`
v=0
o=teamline 1 2 IN IP4 127.0.0.1
s=Teamline
c=IN IP4 127.0.0.1
t=0 0
m=audio 20000 RTP/AVP 0 8 101
c=IN IP4 127.0.0.1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=ptime:20
`))
	if string(out) != want {
		t.Fatalf("RewriteSDP =\n%s\nwant\n%s", out, want)
	}
}

func TestRewriteSDPErrors(t *testing.T) {
	t.Parallel()
	local := netip.MustParseAddrPort("192.0.2.10:30000")
	tests := []struct {
		name  string
		body  []byte
		local netip.AddrPort
		want  error
	}{
		{
			name: "opus and g722 only", local: local, want: ErrNoCommonCodec,
			body: crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 5000 RTP/AVP 96 9\na=rtpmap:96 opus/48000/2\n"),
		},
		{
			name: "telephone-event only", local: local, want: ErrNoCommonCodec,
			body: crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 5000 RTP/AVP 101\na=rtpmap:101 telephone-event/8000\n"),
		},
		{
			name: "pcmu at a wide-band rate", local: local, want: ErrNoCommonCodec,
			body: crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 5000 RTP/AVP 96\na=rtpmap:96 PCMU/16000\n"),
		},
		{name: "no audio", local: local, want: ErrNoAudio, body: crlf("v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n")},
		{name: "unspecified local", local: netip.MustParseAddrPort("0.0.0.0:30000"), body: readSDP(t, "sipp-uac.sdp")},
		{name: "zero local port", local: netip.MustParseAddrPort("192.0.2.10:0"), body: readSDP(t, "sipp-uac.sdp")},
		{name: "invalid local", body: readSDP(t, "sipp-uac.sdp")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := RewriteSDP(tt.body, tt.local, 1, 1)
			if err == nil {
				t.Fatalf("RewriteSDP succeeded:\n%s", out)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("RewriteSDP error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRewriteSDPIPv6(t *testing.T) {
	t.Parallel()
	out, err := RewriteSDP(readSDP(t, "sipp-uac.sdp"), netip.MustParseAddrPort("[2001:db8::10]:30000"), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, want := range []string{"o=teamline 1 1 IN IP6 2001:db8::10\r\n", "c=IN IP6 2001:db8::10\r\n", "m=audio 30000 RTP/AVP 0\r\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
}

// FuzzParseSDP feeds ParseSDP arbitrary bodies. It must not panic, and what
// it accepts RewriteSDP must either reject with an error or turn into an SDP
// that parses back to the local address.
func FuzzParseSDP(f *testing.F) {
	seeds := []string{
		"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
		"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 10438 RTP/AVP 0 8 9 96 101\r\n" +
			"a=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n",
		"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:x\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\n" +
			"a=rtcp:9 IN IP4 0.0.0.0\r\na=rtcp-mux\r\na=candidate:1 1 udp 1 192.0.2.1 5000 typ host\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
		"v=0\r\no=- 1 2 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1/5/2\r\nt=0 0\r\nm=audio 65535/2 RTP/AVP 0 300 x\r\na=rtcp:70000\r\na=rtpmap:0\r\na=fmtp:\r\n",
		"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n",
		"v=0\no=- 1 2 IN IP4 a\ns=-\nc=IN IP4 999.1.1.1\nt=0 0\nm=audio 1 RTP/AVP 8\n",
		"",
		"v=",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	local := netip.MustParseAddrPort("192.0.2.10:30000")
	f.Fuzz(func(t *testing.T, body []byte) {
		sd, mi, err := ParseSDP(body)
		if err != nil {
			return
		}
		if sd == nil || !mi.RTP.IsValid() || mi.RTP.Port() == 0 {
			t.Fatalf("ParseSDP accepted %q with RTP %s", body, mi.RTP)
		}
		out, err := RewriteSDP(body, local, 1, 1)
		if !mi.HasG711() {
			if !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("RewriteSDP of %q without G.711: %v, want ErrNoCommonCodec", body, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("RewriteSDP of %q with G.711: %v", body, err)
		}
		_, mi2, err := ParseSDP(out)
		if err != nil {
			t.Fatalf("rewritten SDP does not parse: %v\n%q", err, out)
		}
		if mi2.RTP != local || !mi2.HasG711() {
			t.Fatalf("rewritten SDP has RTP %s and codecs %v, want %s with G.711", mi2.RTP, mi2.Codecs, local)
		}
	})
}

func BenchmarkRewriteSDP(b *testing.B) {
	body := readSDP(b, "baresip-ice-dtls.sdp")
	local := netip.MustParseAddrPort("192.0.2.10:30000")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := RewriteSDP(body, local, 1, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSDP(b *testing.B) {
	body := readSDP(b, "baresip.sdp")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, err := ParseSDP(body); err != nil {
			b.Fatal(err)
		}
	}
}

package media

import (
	"testing"

	"github.com/pion/rtp"
)

func marshalRTP(t *testing.T, p *rtp.Packet) []byte {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatalf("marshal rtp: %v", err)
	}
	return b
}

func TestValidRTP(t *testing.T) {
	t.Parallel()
	plain := marshalRTP(t, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 7, SSRC: 9}, Payload: make([]byte, 160)})
	event := marshalRTP(t, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: true}, Payload: []byte{5, 0x8a, 0, 160}})
	csrc := marshalRTP(t, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, CSRC: []uint32{1, 2}}, Payload: make([]byte, 160)})
	oneByte := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0}, Payload: make([]byte, 160)}
	if err := oneByte.SetExtension(1, []byte{0x7f}); err != nil {
		t.Fatal(err)
	}
	oneByteExt := marshalRTP(t, oneByte)
	twoByte := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, Extension: true, ExtensionProfile: rtp.ExtensionProfileTwoByte}, Payload: make([]byte, 160)}
	if err := twoByte.SetExtension(1, make([]byte, 20)); err != nil {
		t.Fatal(err)
	}
	twoByteExt := marshalRTP(t, twoByte)
	padded := marshalRTP(t, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, Padding: true}, Payload: make([]byte, 160), PaddingSize: 4})

	mutate := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"pcmu", plain, true},
		{"telephone-event", event, true},
		{"csrc", csrc, true},
		{"one-byte extension", oneByteExt, true},
		{"two-byte extension", twoByteExt, true},
		{"padding", padded, true},
		{"header only", plain[:12], true},
		{"empty", nil, false},
		{"short", plain[:11], false},
		{"version 0", mutate(plain, func(b []byte) []byte { b[0] &^= 0xc0; return b }), false},
		{"version 1", mutate(plain, func(b []byte) []byte { b[0] = b[0]&^0xc0 | 0x40; return b }), false},
		{"version 3", mutate(plain, func(b []byte) []byte { b[0] |= 0xc0; return b }), false},
		{"rtcp receiver report", rtcpRR, false},
		{"payload type 64", mutate(plain, func(b []byte) []byte { b[1] = 64; return b }), false},
		{"payload type 95", mutate(plain, func(b []byte) []byte { b[1] = 95; return b }), false},
		{"csrc beyond packet", mutate(plain[:12], func(b []byte) []byte { b[0] |= 0x0f; return b }), false},
		{"extension header beyond packet", mutate(plain[:14], func(b []byte) []byte { b[0] |= 0x10; return b }), false},
		{"extension longer than packet", mutate(oneByteExt, func(b []byte) []byte { b[14], b[15] = 0xff, 0xff; return b }), false},
		{"extension element beyond extension", mutate(oneByteExt, func(b []byte) []byte { b[16] = 0x1f; return b }), false},
		{"padding count zero", mutate(padded, func(b []byte) []byte { b[len(b)-1] = 0; return b }), false},
		{"padding beyond payload", mutate(padded, func(b []byte) []byte { b[len(b)-1] = 200; return b }), false},
		{"text", []byte("this is not an rtp packet"), false},
	}
	h := newHeader()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := validRTP(newHeader(), tt.pkt); got != tt.want {
				t.Fatalf("validRTP = %v, want %v for %x", got, tt.want, tt.pkt)
			}
		})
		// The same header is reused across packets, as the reader does.
		if got := validRTP(h, tt.pkt); got != tt.want {
			t.Fatalf("%s: validRTP with a reused header = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidRTCP(t *testing.T) {
	t.Parallel()
	sr := make([]byte, 28)
	sr[0], sr[1], sr[3] = 0x80, 200, 6
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"receiver report", rtcpRR, true},
		{"sender report", sr, true},
		{"compound with trailing packet", append(append([]byte(nil), rtcpRR...), 0x81, 202, 0, 0), true},
		{"short", rtcpRR[:7], false},
		{"version 1", []byte{0x40, 201, 0, 1, 0, 0, 0, 0}, false},
		{"type 100", []byte{0x80, 100, 0, 1, 0, 0, 0, 0}, false},
		{"type 224", []byte{0x80, 224, 0, 1, 0, 0, 0, 0}, false},
		{"length beyond packet", []byte{0x80, 201, 0, 9, 0, 0, 0, 0}, false},
		{"rtp", func() []byte { b := make([]byte, 172); b[0] = 0x80; return b }(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := validRTCP(tt.pkt); got != tt.want {
				t.Fatalf("validRTCP = %v, want %v for %x", got, tt.want, tt.pkt)
			}
		})
	}
}

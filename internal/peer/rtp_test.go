package peer

import (
	"context"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestRTPEndpointExchange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pt   uint8
		freq float64
	}{
		{"pcmu 1000 Hz", PayloadPCMU, 1000},
		{"pcma 440 Hz", PayloadPCMA, 440},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a, b := NewRTPEndpoint(t), NewRTPEndpoint(t)
			a.StartSending(ctx, b.Addr(), tc.pt, tc.freq)
			b.StartSending(ctx, a.Addr(), tc.pt, tc.freq)
			for _, e := range []*RTPEndpoint{a, b} {
				if err := e.WaitPackets(ctx, 25); err != nil {
					t.Fatal(err)
				}
			}
			a.StopSending()
			b.StopSending()
			for name, pair := range map[string][2]*RTPEndpoint{"a<-b": {a, b}, "b<-a": {b, a}} {
				st, from := pair[0].Received(), pair[1].Addr()
				if st.From != from {
					t.Errorf("%s: from %s, want %s (same socket sends and receives)", name, st.From, from)
				}
				if len(st.SSRCs) != 1 || len(st.PayloadTypes) != 1 || st.PayloadTypes[0] != tc.pt {
					t.Errorf("%s: ssrcs %v, payload types %v", name, st.SSRCs, st.PayloadTypes)
				}
				if st.Bytes != st.Packets*160 {
					t.Errorf("%s: %d bytes in %d packets, want 160 per packet", name, st.Bytes, st.Packets)
				}
				if st.Lost != 0 {
					t.Errorf("%s: lost %d", name, st.Lost)
				}
				if !st.NonSilent || math.Abs(st.RMS-0.5/math.Sqrt2) > 0.02 {
					t.Errorf("%s: rms %.3f (non-silent %v), want ~0.354", name, st.RMS, st.NonSilent)
				}
				if math.Abs(st.FreqHz-tc.freq) > 10 {
					t.Errorf("%s: freq %.1f Hz, want %.0f", name, st.FreqHz, tc.freq)
				}
			}
		})
	}
}

// TestRTPEndpointLossAndSilence feeds hand-made packets: a gap in the
// sequence numbers across the 16-bit wrap, a second SSRC, silence.
func TestRTPEndpointLossAndSilence(t *testing.T) {
	t.Parallel()
	e := NewRTPEndpoint(t)
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(e.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	silence := make([]byte, 160)
	for i := range silence {
		silence[i] = 0xFF // mu-law zero
	}
	seqs := []uint16{65533, 65534, 1, 2} // 65535 and 0 missing
	for i, seq := range seqs {
		p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, SSRC: uint32(1 + i/3)}, Payload: silence}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.WaitPackets(ctx, len(seqs)); err != nil {
		t.Fatal(err)
	}
	st := e.Received()
	if st.Lost != 2 || st.FirstSeq != 65533 || st.LastSeq != 2 {
		t.Errorf("lost %d, first %d, last %d; want 2, 65533, 2", st.Lost, st.FirstSeq, st.LastSeq)
	}
	if len(st.SSRCs) != 2 {
		t.Errorf("ssrcs %v, want 2", st.SSRCs)
	}
	if st.NonSilent || st.RMS != 0 {
		t.Errorf("rms %.4f non-silent %v, want silence", st.RMS, st.NonSilent)
	}
	if want := netip.MustParseAddrPort(c.LocalAddr().String()); st.From != want {
		t.Errorf("from %s, want %s", st.From, want)
	}
}

func TestRTPEndpointWaitBounded(t *testing.T) {
	t.Parallel()
	e := NewRTPEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.WaitPackets(ctx, 1); err == nil {
		t.Fatal("WaitPackets returned nil with nothing sent")
	}
	e.Close()
	if err := e.WaitPackets(context.Background(), 1); err == nil {
		t.Fatal("WaitPackets on a closed endpoint returned nil")
	}
}

func BenchmarkRTPRecord(b *testing.B) {
	b.ReportAllocs()
	e := &RTPEndpoint{changed: make(chan struct{})}
	p := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7}, Payload: make([]byte, 160)}
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	for b.Loop() {
		p.SequenceNumber++
		e.record(p, from)
	}
}

package media

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// promptAudio returns n bytes of mu-law with a pattern that differs from
// silence and from packet to packet.
func promptAudio(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/frameBytes)
	}
	return b
}

// expectedPayloads splits audio into the 160-byte payloads PlayA sends in
// payload type pt, the last padded with silence.
func expectedPayloads(audio []byte, pt uint8) [][]byte {
	var out [][]byte
	for off := 0; off < len(audio); off += frameBytes {
		f := make([]byte, frameBytes)
		for i := range f {
			u := byte(ulawSilence)
			if off+i < len(audio) {
				u = audio[off+i]
			}
			if pt == PayloadPCMA {
				u = ulawToAlaw[u]
			}
			f[i] = u
		}
		out = append(out, f)
	}
	return out
}

// playAsync starts PlayA on its own goroutine and returns its error on a
// channel; the test waits for it before it ends.
func playAsync(t *testing.T, ctx context.Context, s *Session, audio []byte, pt uint8) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		done <- s.PlayA(ctx, audio, pt)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		case <-time.After(waitLimit):
			t.Errorf("PlayA did not return within %s", waitLimit)
		}
	})
	return done
}

// waitPlay returns PlayA's error, failing the test if it takes too long.
func waitPlay(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		t.Fatalf("PlayA did not return within %s", waitLimit)
		return nil
	}
}

func TestPlayA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pt      uint8
		bytes   int
		start   bool // relay started
		packets int
	}{
		{"pcmu whole frames", PayloadPCMU, 8 * frameBytes, false, 8},
		{"pcmu last frame padded", PayloadPCMU, 10*frameBytes + 37, false, 11},
		{"pcma converted", PayloadPCMA, 6*frameBytes + 1, false, 7},
		{"pcmu on a started relay", PayloadPCMU, 5 * frameBytes, true, 5},
		{"nothing to play", PayloadPCMU, 0, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, 2, 0)
			s := tb.newSession(t)
			caller := newPhone(t)
			s.SetRemoteA(caller.addr())
			if tt.start {
				s.Start(t.Context())
			}
			audio := promptAudio(tt.bytes)
			started := time.Now()
			if err := waitPlay(t, playAsync(t, t.Context(), s, audio, tt.pt)); err != nil {
				t.Fatalf("PlayA: %v", err)
			}
			// PlayA paces the frames and waits out the last one, so it
			// cannot return sooner than the audio lasts.
			if lasts := time.Duration(tt.packets) * frameDuration; time.Since(started) < lasts {
				t.Errorf("PlayA returned after %s, before the %s the audio lasts", time.Since(started), lasts)
			}

			want := expectedPayloads(audio, tt.pt)
			var first rtp.Packet
			for i := range tt.packets {
				raw, src := caller.recv()
				if src != s.LocalA() {
					t.Fatalf("packet %d came from %s, want LocalA %s", i, src, s.LocalA())
				}
				var pkt rtp.Packet
				if err := pkt.Unmarshal(raw); err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if i == 0 {
					first = pkt
				}
				h := pkt.Header
				if h.Version != 2 || h.PayloadType != tt.pt || h.Padding || h.Extension || len(h.CSRC) != 0 {
					t.Errorf("packet %d header %+v, want v2 pt %d without padding, extension or csrc", i, h, tt.pt)
				}
				if h.Marker != (i == 0) {
					t.Errorf("packet %d marker %v, want it on the first packet only", i, h.Marker)
				}
				if h.SSRC != first.SSRC {
					t.Errorf("packet %d ssrc %#x, want %#x", i, h.SSRC, first.SSRC)
				}
				if want := first.SequenceNumber + uint16(i); h.SequenceNumber != want {
					t.Errorf("packet %d seq %d, want %d", i, h.SequenceNumber, want)
				}
				if want := first.Timestamp + uint32(i*frameBytes); h.Timestamp != want {
					t.Errorf("packet %d timestamp %d, want %d", i, h.Timestamp, want)
				}
				if string(pkt.Payload) != string(want[i]) {
					t.Errorf("packet %d payload differs from the audio", i)
				}
			}
			if raw, _, ok := caller.recvWithin(50 * time.Millisecond); ok {
				t.Errorf("caller got an extra packet of %d bytes after %d", len(raw), tt.packets)
			}
		})
	}
}

// TestPlayAStreamsDiffer checks that two prompts get their own random SSRC,
// sequence number and timestamp.
func TestPlayAStreamsDiffer(t *testing.T) {
	t.Parallel()
	tb := setup(t, 2, 0)
	s := tb.newSession(t)
	caller := newPhone(t)
	s.SetRemoteA(caller.addr())
	var hs []rtp.Header
	for range 2 {
		if err := s.PlayA(t.Context(), promptAudio(frameBytes), PayloadPCMU); err != nil {
			t.Fatalf("PlayA: %v", err)
		}
		raw, _ := caller.recv()
		var h rtp.Header
		if _, err := h.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	// Each field collides by chance with probability 2^-32 (2^-16 for the
	// sequence number); all three at once never.
	if hs[0].SSRC == hs[1].SSRC && hs[0].SequenceNumber == hs[1].SequenceNumber && hs[0].Timestamp == hs[1].Timestamp {
		t.Errorf("two prompts started with the same ssrc, seq and timestamp: %+v", hs[0])
	}
}

// TestPlayAMutesAgent plays a prompt on a started relay while the agent
// sends: the caller hears only the prompt, and the agent again afterwards.
func TestPlayAMutesAgent(t *testing.T) {
	t.Parallel()
	tb := setup(t, 2, 0)
	s := tb.newSession(t)
	caller, agent := newPhone(t), newPhone(t)
	s.SetRemoteA(caller.addr())
	s.SetRemoteB(agent.addr())
	s.Start(t.Context())

	const frames = 25 // 500 ms: the agent's packets arrive well within it
	done := playAsync(t, t.Context(), s, promptAudio(frames*frameBytes), PayloadPCMU)
	raw, _ := caller.recv()
	var prompt rtp.Header
	if _, err := prompt.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	const agentSSRC = 0xa9e47
	for i := range 3 {
		agent.send(s.LocalB(), rtpPacket(t, uint16(i), agentSSRC))
	}
	if err := waitPlay(t, done); err != nil {
		t.Fatalf("PlayA: %v", err)
	}
	for i := 1; i < frames; i++ {
		raw, _ := caller.recv()
		var h rtp.Header
		if _, err := h.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		if h.SSRC != prompt.SSRC {
			t.Fatalf("packet %d during the prompt has ssrc %#x, want the prompt's %#x", i, h.SSRC, prompt.SSRC)
		}
	}
	wantStats(t, s, "3 agent packets dropped while playing", func(st Stats) bool {
		return st.DroppedPlaying == 3 && st.BToA.Packets == 0
	})

	agent.send(s.LocalB(), rtpPacket(t, 9, agentSSRC))
	raw, _ = caller.recv()
	var h rtp.Header
	if _, err := h.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if h.SSRC != agentSSRC {
		t.Errorf("after the prompt the caller got ssrc %#x, want the agent's %#x", h.SSRC, agentSSRC)
	}
}

func TestPlayAStopsWithContext(t *testing.T) {
	t.Parallel()
	tb := setup(t, 2, 0)
	s := tb.newSession(t)
	caller := newPhone(t)
	s.SetRemoteA(caller.addr())

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const frames = 250 // 5 s
	done := playAsync(t, ctx, s, promptAudio(frames*frameBytes), PayloadPCMU)
	for range 3 {
		caller.recv()
	}
	cancel()
	if err := waitPlay(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("PlayA = %v, want context.Canceled", err)
	}
	got := 3
	for {
		if _, _, ok := caller.recvWithin(100 * time.Millisecond); !ok {
			break
		}
		got++
	}
	if got >= frames {
		t.Errorf("caller got all %d packets although the context ended", got)
	}
	// The session is free for the next prompt.
	if err := s.PlayA(t.Context(), promptAudio(frameBytes), PayloadPCMU); err != nil {
		t.Errorf("PlayA after a cancelled one: %v", err)
	}
}

func TestPlayAErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t, 8, 0)

	t.Run("payload type", func(t *testing.T) {
		s := tb.newSession(t)
		s.SetRemoteA(newPhone(t).addr())
		for _, pt := range []uint8{3, 18, 96, 101} {
			if err := s.PlayA(t.Context(), promptAudio(frameBytes), pt); !errors.Is(err, ErrPayloadType) {
				t.Errorf("pt %d: err = %v, want ErrPayloadType", pt, err)
			}
		}
	})
	t.Run("no remote address", func(t *testing.T) {
		s := tb.newSession(t)
		if err := s.PlayA(t.Context(), promptAudio(frameBytes), PayloadPCMU); !errors.Is(err, ErrNoRemote) {
			t.Errorf("no SDP address: err = %v, want ErrNoRemote", err)
		}
		s.SetRemoteA(netip.MustParseAddrPort("0.0.0.0:4000")) // hold
		if err := s.PlayA(t.Context(), promptAudio(frameBytes), PayloadPCMU); !errors.Is(err, ErrNoRemote) {
			t.Errorf("on hold: err = %v, want ErrNoRemote", err)
		}
	})
	t.Run("ended session", func(t *testing.T) {
		s := tb.newSession(t)
		s.SetRemoteA(newPhone(t).addr())
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.PlayA(t.Context(), promptAudio(frameBytes), PayloadPCMU); !errors.Is(err, ErrEnded) {
			t.Errorf("err = %v, want ErrEnded", err)
		}
	})
	t.Run("session ends while playing", func(t *testing.T) {
		s := tb.newSession(t)
		caller := newPhone(t)
		s.SetRemoteA(caller.addr())
		done := playAsync(t, t.Context(), s, promptAudio(250*frameBytes), PayloadPCMU)
		caller.recv()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := waitPlay(t, done); !errors.Is(err, ErrEnded) {
			t.Errorf("err = %v, want ErrEnded", err)
		}
	})
	t.Run("one prompt at a time", func(t *testing.T) {
		s := tb.newSession(t)
		caller := newPhone(t)
		s.SetRemoteA(caller.addr())
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := playAsync(t, ctx, s, promptAudio(250*frameBytes), PayloadPCMU)
		caller.recv() // the first PlayA is running
		if err := s.PlayA(t.Context(), promptAudio(frameBytes), PayloadPCMU); !errors.Is(err, ErrPlaying) {
			t.Errorf("second PlayA: err = %v, want ErrPlaying", err)
		}
		cancel()
		if err := waitPlay(t, done); !errors.Is(err, context.Canceled) {
			t.Errorf("first PlayA = %v, want context.Canceled", err)
		}
	})
}

// alawDecode returns the 16-bit linear sample of an A-law byte (ITU-T
// G.711), to check the conversion table against.
func alawDecode(a byte) int16 {
	a ^= 0x55
	t := int32(a&0x0F) << 4
	seg := (a & 0x70) >> 4
	switch seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

func TestUlawToAlaw(t *testing.T) {
	t.Parallel()
	// Reference points of G.711: silence, both extremes, and the mu-law
	// negative zero.
	fixed := []struct {
		u, a byte
		why  string
	}{
		{0xFF, 0xD5, "mu-law zero is A-law zero"},
		{0x7F, 0xD5, "mu-law negative zero is A-law zero"},
		{0x80, 0xAA, "largest positive"},
		{0x00, 0x2A, "largest negative"},
	}
	for _, f := range fixed {
		if got := ulawToAlaw[f.u]; got != f.a {
			t.Errorf("%s: ulawToAlaw[%#02x] = %#02x, want %#02x", f.why, f.u, got, f.a)
		}
	}
	// Each entry must be the A-law byte whose level is nearest the mu-law
	// byte's level, found here by trying all 256.
	for u := range 256 {
		x := int32(ulawDecode(byte(u)))
		best := int32(1 << 30)
		for a := range 256 {
			best = min(best, abs32(int32(alawDecode(byte(a)))-x))
		}
		y := int32(alawDecode(ulawToAlaw[u]))
		if d := abs32(y - x); d != best {
			t.Errorf("mu-law %#02x = %d became A-law %#02x = %d, off by %d; the nearest A-law level is off by %d",
				u, x, ulawToAlaw[u], y, d, best)
		}
	}
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// TestUlawToAlawLikeSox compares the table with sox's own conversion of all
// 256 mu-law bytes (without dither).
func TestUlawToAlawLikeSox(t *testing.T) {
	if _, err := exec.LookPath("sox"); err != nil {
		t.Skipf("sox is not installed: %v", err)
	}
	t.Parallel()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "all.ul"), filepath.Join(dir, "all.al")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if err := os.WriteFile(in, all, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sox", "-D", "-t", "ul", "-r", "8000", "-c", "1", in, "-t", "al", "-r", "8000", "-c", "1", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 256 {
		t.Fatalf("sox wrote %d bytes, want 256", len(got))
	}
	// sox rounds negative levels towards zero rather than to the nearest
	// A-law level, so it may pick the neighbouring level there: one
	// quantisation step (1/16 of the segment's span) apart at most.
	same := 0
	for u := range 256 {
		if got[u] == ulawToAlaw[u] {
			same++
			continue
		}
		x, y := int32(alawDecode(got[u])), int32(alawDecode(ulawToAlaw[u]))
		step := max(16, abs32(y)/16)
		if abs32(x-y) > step || (x < 0) != (y < 0) {
			t.Errorf("mu-law %#02x: sox gives A-law %#02x (%d), the table %#02x (%d)", u, got[u], x, ulawToAlaw[u], y)
		}
	}
	if same < 192 {
		t.Errorf("sox and the table agree on %d of 256 bytes, want at least 192", same)
	}
	t.Logf("sox and the table agree on %d of 256 bytes", same)
}

// TestPlayFrameAllocs checks that building and sending a prompt packet does
// not allocate, for both payload types.
func TestPlayFrameAllocs(t *testing.T) {
	tb := setup(t, 2, 0)
	s := tb.newSession(t)
	caller := newPhone(t)
	s.SetRemoteA(caller.addr())
	audio := promptAudio(10 * frameBytes)
	for _, pt := range []uint8{PayloadPCMU, PayloadPCMA} {
		var table *[256]byte
		if pt == PayloadPCMA {
			table = &ulawToAlaw
		}
		p := newPlayer(pt, table)
		i := 0
		allocs := testing.AllocsPerRun(200, func() {
			pkt := p.frame(audio[(i%10)*frameBytes:])
			i++
			if _, err := s.a.rtp.conn.WriteToUDPAddrPort(pkt, s.a.rtp.dest()); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("pt %d: %v allocs per packet, want 0", pt, allocs)
		}
	}
}

// BenchmarkPlayFrame builds and sends one prompt packet per iteration (no
// pacing), in A-law, the payload type that converts every byte.
func BenchmarkPlayFrame(b *testing.B) {
	tb := setup(b, 2, 0)
	s := tb.newSession(b)
	caller := newPhone(b)
	s.SetRemoteA(caller.addr())
	audio := promptAudio(50 * frameBytes)
	p := newPlayer(PayloadPCMA, &ulawToAlaw)
	b.ReportAllocs()
	b.SetBytes(rtpHeaderLen + frameBytes)
	i := 0
	for b.Loop() {
		pkt := p.frame(audio[(i%50)*frameBytes:])
		i++
		if _, err := s.a.rtp.conn.WriteToUDPAddrPort(pkt, s.a.rtp.dest()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallbackBooked composes and joins the German sentence, as done
// once per call that ends in a callback.
func BenchmarkCallbackBooked(b *testing.B) {
	p, err := LoadPrompts(fakePrompts(b, "de"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2025, time.March, 10, 9, 0, 0, 0, time.UTC)
	slot := now.Add(5*time.Hour + 30*time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.CallbackBooked("de", now, slot); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRingbackCadence(t *testing.T) {
	t.Parallel()
	rb := Ringback()
	if len(rb) != 5*8000 {
		t.Fatalf("ringback is %d samples, want one 5 s cadence", len(rb))
	}
	energy := func(b []byte) float64 {
		var sum float64
		for _, u := range b {
			v := float64(ulawDecode(u))
			sum += v * v
		}
		return sum / float64(len(b))
	}
	if on, off := energy(rb[:8000]), energy(rb[8000:]); on < 1e6 || off != 0 {
		t.Fatalf("tone energy %.0f in the first second, %.0f after; want a tone then silence", on, off)
	}
	for _, v := range []int16{0, 100, -100, 1000, -12345, 32767, -32768} {
		got := ulawDecode(ulawEncode(v))
		if d := int(got) - int(v); d > 1100 || d < -1100 || (v > 200 && got <= 0) {
			t.Errorf("mu-law round trip of %d gave %d", v, got)
		}
	}
}

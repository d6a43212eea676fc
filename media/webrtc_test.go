package media

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
)

// testWebRTCConfig keeps ICE on 127.0.0.1: tests touch no other address.
func testWebRTCConfig() WebRTCConfig {
	return WebRTCConfig{
		ICEAddresses:    []netip.Addr{loopback},
		IncludeLoopback: true,
	}
}

// toneFrames returns the 50 PCMU frames of one second of a sine of freq Hz
// (an integer, so the second repeats exactly), and the set of them.
func toneFrames(freq float64) ([][]byte, map[string]bool) {
	frames := make([][]byte, 50)
	set := make(map[string]bool, 50)
	for f := range frames {
		frames[f] = make([]byte, pcmuFrame)
		for i := range frames[f] {
			n := f*pcmuFrame + i
			frames[f][i] = ulawEncode(int16(16000 * math.Sin(2*math.Pi*freq*float64(n)/8000)))
		}
		set[string(frames[f])] = true
	}
	return frames, set
}

// rms is the root mean square of a PCMU payload's linear samples.
func rms(payload []byte) float64 {
	var sum float64
	for _, u := range payload {
		v := float64(ulawDecode(u))
		sum += v * v
	}
	return math.Sqrt(sum / float64(max(len(payload), 1)))
}

// browserPeer is a second pion PeerConnection that answers the leg's offer
// as a browser does: complete gathering (no trickle), PCMU, telephone-event.
type browserPeer struct {
	pc        *webrtc.PeerConnection
	track     *audioTrack
	connected chan struct{}

	tone      map[string]bool // the frames the caller sends
	toneIn    atomic.Uint64   // PCMU packets whose payload is a caller frame
	otherIn   atomic.Uint64   // PCMU packets with any other payload
	loudIn    atomic.Uint64   // PCMU packets with an RMS above 1000
	eventsIn  atomic.Uint64   // telephone-event packets
	foreignIn atomic.Uint64   // any other payload type
}

func newBrowserPeer(t testing.TB, log zerolog.Logger, tone map[string]bool) *browserPeer {
	t.Helper()
	api, err := newWebRTCAPI(testWebRTCConfig(), log.With().Str("peer", "browser").Logger())
	if err != nil {
		t.Fatalf("browser api: %v", err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatalf("browser peer connection: %v", err)
	}
	inner, err := webrtc.NewTrackLocalStaticRTP(pcmuCapability, "mic", "browser")
	if err != nil {
		t.Fatalf("browser track: %v", err)
	}
	b := &browserPeer{pc: pc, track: &audioTrack{TrackLocalStaticRTP: inner}, connected: make(chan struct{}), tone: tone}
	if _, err := pc.AddTrack(b.track); err != nil {
		t.Fatalf("browser add track: %v", err)
	}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(b.connected) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		var p rtp.Packet
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				if n == 0 {
					return
				}
				continue
			}
			if p.Unmarshal(buf[:n]) != nil {
				continue
			}
			switch p.PayloadType {
			case pcmuPT:
				if b.tone[string(p.Payload)] {
					b.toneIn.Add(1)
				} else {
					b.otherIn.Add(1)
				}
				if rms(p.Payload) > 1000 {
					b.loudIn.Add(1)
				}
			case DefaultTelephoneEventPT:
				b.eventsIn.Add(1)
			default:
				b.foreignIn.Add(1)
			}
		}
	})
	t.Cleanup(func() { _ = pc.GracefulClose() })
	return b
}

// answer takes the leg's offer and returns the complete answer.
func (b *browserPeer) answer(t testing.TB, offer []byte) []byte {
	t.Helper()
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		t.Fatalf("browser set offer: %v", err)
	}
	ans, err := b.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatalf("browser create answer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(ans); err != nil {
		t.Fatalf("browser set answer: %v", err)
	}
	select {
	case <-gathered:
	case <-time.After(waitLimit):
		t.Fatalf("browser gathering did not complete within %s", waitLimit)
	}
	return []byte(b.pc.LocalDescription().SDP)
}

// waitClosed waits, bounded, for a channel to close.
func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("%s within %s: timed out", what, waitLimit)
	}
}

// webrtcCall is a relayed call whose agent leg is a WebRTC leg answered by
// a browserPeer, and whose caller is a plain UDP phone.
type webrtcCall struct {
	tb      *testBundle
	s       *Session
	leg     *WebRTCLeg
	browser *browserPeer
	caller  *phone
	offer   []byte
	setup   time.Duration // Offer to both peers connected
}

// dialWebRTC builds the call as the SIP layer will: offer, answer, then the
// relay's side B pointed at the leg.
func dialWebRTC(t testing.TB, cfg WebRTCConfig, callerTone map[string]bool) *webrtcCall {
	t.Helper()
	return dialWebRTCSilence(t, cfg, callerTone, time.Minute)
}

// dialWebRTCSilence is dialWebRTC with the relay's silence timeout, and
// room for a second session.
func dialWebRTCSilence(t testing.TB, cfg WebRTCConfig, callerTone map[string]bool, silence time.Duration) *webrtcCall {
	t.Helper()
	tb := setup(t, 4, silence)
	log := zerolog.New(tb.log).Level(zerolog.DebugLevel).With().Str("call_id", "webrtc-1").Logger()
	c := &webrtcCall{tb: tb, s: tb.newSession(t), caller: newPhone(t)}
	leg, err := NewWebRTCLeg(t.Context(), cfg, log)
	if err != nil {
		t.Fatalf("NewWebRTCLeg: %v", err)
	}
	t.Cleanup(func() { _ = leg.Close() })
	c.leg = leg
	c.browser = newBrowserPeer(t, log, callerTone)

	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	c.offer, err = leg.Offer(ctx)
	if err != nil {
		t.Fatalf("Offer: %v", err)
	}
	if err := leg.SetAnswer(c.browser.answer(t, c.offer)); err != nil {
		t.Fatalf("SetAnswer: %v", err)
	}
	c.s.SetRemoteA(c.caller.addr())
	c.s.SetRemoteB(leg.RTPAddr())
	c.s.SetRemoteRTCPB(netip.AddrPort{})
	leg.Attach(c.s.LocalB())
	c.s.Start(t.Context())
	waitClosed(t, c.browser.connected, "browser connected")
	eventually(t, leg.connected.Load)
	c.setup = time.Since(start)
	return c
}

// sendEvery sends the packets that next returns from conn to dst every
// 20 ms until ctx ends. It runs on its own goroutine and cannot fail the
// test; the receivers' counters tell whether audio arrived.
func sendEvery(ctx context.Context, wg *sync.WaitGroup, next func(i int) []byte, write func([]byte)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			write(next(i))
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func TestWebRTCLegTwoWayAudio(t *testing.T) {
	t.Parallel()
	const telephoneEventPT = 96 // the trunk's, mapped to the browser's 101
	callerFrames, callerSet := toneFrames(440)
	browserFrames, browserSet := toneFrames(1000)
	cfg := testWebRTCConfig()
	cfg.TelephoneEventPT = telephoneEventPT
	cfg.ReceiverReports = true
	c := dialWebRTC(t, cfg, callerSet)
	t.Logf("setup (offer, gathering, answer, ICE, DTLS) took %s", c.setup)

	// The offer: PCMU and telephone-event only, a DTLS fingerprint, and
	// complete loopback candidates.
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(c.offer); err != nil {
		t.Fatalf("offer does not parse: %v\n%s", err, c.offer)
	}
	if len(sd.MediaDescriptions) != 1 || sd.MediaDescriptions[0].MediaName.Media != "audio" {
		t.Fatalf("offer has %d media sections, want one audio:\n%s", len(sd.MediaDescriptions), c.offer)
	}
	md := sd.MediaDescriptions[0]
	if got := strings.Join(md.MediaName.Formats, " "); got != "0 101" {
		t.Errorf("offer formats = %q, want \"0 101\"", got)
	}
	offer := string(c.offer)
	for _, want := range []string{"a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16",
		"a=fingerprint:sha-256 ", "a=setup:actpass", "a=end-of-candidates", "RTP/SAVPF"} {
		if !strings.Contains(offer, want) {
			t.Errorf("offer lacks %q:\n%s", want, offer)
		}
	}
	for _, bad := range []string{"opus", "PCMA", "a=rtpmap:13 "} {
		if strings.Contains(offer, bad) {
			t.Errorf("offer carries %q:\n%s", bad, offer)
		}
	}
	candidates := 0
	for _, a := range md.Attributes {
		if a.Key != "candidate" {
			continue
		}
		candidates++
		if f := strings.Fields(a.Value); len(f) < 8 || f[4] != "127.0.0.1" || f[7] != "host" {
			t.Errorf("candidate %q: want a host candidate on 127.0.0.1", a.Value)
		}
	}
	if candidates == 0 {
		t.Errorf("offer has no candidates:\n%s", offer)
	}

	// Audio both ways, 20 ms packets, as a trunk and a browser send it.
	ctx, cancel := context.WithCancel(t.Context())
	var senders sync.WaitGroup
	t.Cleanup(func() { cancel(); senders.Wait() })
	sendEvery(ctx, &senders, func(i int) []byte {
		pkt, _ := (&rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: pcmuPT, SequenceNumber: uint16(1000 + i), Timestamp: uint32(i * pcmuFrame), SSRC: 0xcafe},
			Payload: callerFrames[i%50],
		}).Marshal()
		return pkt
	}, func(b []byte) { _, _ = c.caller.conn.WriteToUDPAddrPort(b, c.s.LocalA()) })
	sendEvery(ctx, &senders, func(i int) []byte {
		pkt, _ := (&rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: pcmuPT, SequenceNumber: uint16(i), Timestamp: uint32(i * pcmuFrame), SSRC: 0xbeef},
			Payload: browserFrames[i%50],
		}).Marshal()
		return pkt
	}, func(b []byte) {
		var p rtp.Packet
		if p.Unmarshal(b) == nil {
			_ = c.browser.track.WriteRTP(&p)
		}
	})

	// The caller hears the browser's tone, byte for byte (no transcoding).
	const want = 25 // half a second of audio
	firstAt := time.Duration(0)
	start := time.Now()
	heard, loud := 0, 0
	for heard < want {
		pkt, src, ok := c.caller.recvWithin(waitLimit)
		if !ok {
			t.Fatalf("caller heard %d browser frames, want %d; leg %+v; session %+v", heard, want, c.leg.Stats(), c.s.Stats())
		}
		var p rtp.Packet
		if src != c.s.LocalA() || p.Unmarshal(pkt) != nil {
			t.Fatalf("caller got %d bytes from %s, want RTP from %s", len(pkt), src, c.s.LocalA())
		}
		if p.PayloadType != pcmuPT {
			t.Fatalf("caller got payload type %d, want PCMU", p.PayloadType)
		}
		if !browserSet[string(p.Payload)] {
			t.Fatalf("caller got a frame the browser did not send (rms %.0f)", rms(p.Payload))
		}
		if firstAt == 0 {
			firstAt = c.setup + time.Since(start)
		}
		heard++
		if rms(p.Payload) > 1000 {
			loud++
		}
	}
	if loud < want {
		t.Errorf("%d of %d frames at the caller are loud, want all", loud, want)
	}
	t.Logf("offer to first browser packet at the caller: %s", firstAt)

	// The browser hears the caller's tone through DTLS-SRTP.
	eventually(t, func() bool { return c.browser.toneIn.Load() >= want })
	if n := c.browser.otherIn.Load(); n != 0 {
		t.Errorf("browser got %d PCMU frames the caller did not send", n)
	}
	if c.browser.loudIn.Load() < want {
		t.Errorf("browser got %d loud frames, want at least %d", c.browser.loudIn.Load(), want)
	}

	// Comfort noise and PCMA from the trunk are dropped; telephone-event is
	// mapped from the trunk's 96 to the browser's 101 and back.
	before := c.leg.Stats().DroppedCodec
	for i, pt := range []uint8{cnPT, 8} {
		pkt, _ := (&rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: uint16(5000 + i), SSRC: 0xcafe},
			Payload: []byte{0x7f},
		}).Marshal()
		_, _ = c.caller.conn.WriteToUDPAddrPort(pkt, c.s.LocalA())
	}
	event := []byte{5, 0x0a, 0, 160} // digit 5, volume 10, 160 units
	dtmf, _ := (&rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: telephoneEventPT, Marker: true, SequenceNumber: 6000, SSRC: 0xcafe},
		Payload: event,
	}).Marshal()
	_, _ = c.caller.conn.WriteToUDPAddrPort(dtmf, c.s.LocalA())
	eventually(t, func() bool { return c.browser.eventsIn.Load() >= 1 && c.leg.Stats().DroppedCodec >= before+2 })
	if n := c.browser.foreignIn.Load(); n != 0 {
		t.Errorf("browser got %d packets of a payload type other than PCMU and telephone-event", n)
	}

	// The browser's DTMF reaches the caller with the trunk's payload type.
	// The browser's audio keeps flowing, so look for it among the tone.
	if err := c.browser.track.writeEvent(&rtp.Packet{
		Header:  rtp.Header{Version: 2, Marker: true, SequenceNumber: 7000, Timestamp: 7000},
		Payload: event,
	}); err != nil {
		t.Fatalf("browser write event: %v", err)
	}
	for got := false; !got; {
		pkt, _, ok := c.caller.recvWithin(waitLimit)
		if !ok {
			t.Fatalf("caller received no telephone-event from the browser")
		}
		var p rtp.Packet
		if p.Unmarshal(pkt) != nil {
			continue
		}
		switch p.PayloadType {
		case pcmuPT:
		case telephoneEventPT:
			if string(p.Payload) != string(event) {
				t.Fatalf("event payload = %x, want %x", p.Payload, event)
			}
			got = true
		default:
			t.Fatalf("caller got payload type %d, want %d or PCMU", p.PayloadType, telephoneEventPT)
		}
	}

	st := c.leg.Stats()
	if st.DroppedSource != 0 || st.DroppedInvalid != 0 || st.SendErrors != 0 {
		t.Errorf("leg stats = %+v, want no drops but codec and not-ready", st)
	}
	t.Logf("leg stats: %+v", st)
}

// TestWebRTCLegSSRCChange checks that the browser sees one continuous
// stream when the relay side's SSRC changes (a prompt, a new trunk leg).
func TestWebRTCLegSSRCChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []rtp.Header
		want []uint16 // sequence numbers out
	}{
		{"one source", []rtp.Header{{SSRC: 1, SequenceNumber: 10}, {SSRC: 1, SequenceNumber: 11}}, []uint16{10, 11}},
		{"new source continues", []rtp.Header{{SSRC: 1, SequenceNumber: 10}, {SSRC: 2, SequenceNumber: 500}, {SSRC: 2, SequenceNumber: 501}},
			[]uint16{10, 11, 12}},
		{"wraps", []rtp.Header{{SSRC: 1, SequenceNumber: 65535}, {SSRC: 2, SequenceNumber: 7}}, []uint16{65535, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s sequencer
			var lastTS uint32
			for i, h := range tt.in {
				h.Timestamp = uint32(h.SequenceNumber) * pcmuFrame
				switched := i > 0 && h.SSRC != tt.in[i-1].SSRC
				s.apply(&h)
				if h.SequenceNumber != tt.want[i] {
					t.Errorf("packet %d: seq %d, want %d", i, h.SequenceNumber, tt.want[i])
				}
				if i > 0 && h.Timestamp-lastTS < pcmuFrame {
					t.Errorf("packet %d: timestamp moved by %d, want at least %d", i, h.Timestamp-lastTS, pcmuFrame)
				}
				if switched && !h.Marker {
					t.Errorf("packet %d: marker not set on a new source", i)
				}
				lastTS = h.Timestamp
			}
		})
	}
}

// TestWebRTCLegEnds checks how a leg ends: the browser closing the
// connection, the call's context, and Close.
func TestWebRTCLegEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		end     func(c *webrtcCall, cancel context.CancelFunc)
		wantErr error
	}{
		{"browser closes", func(c *webrtcCall, _ context.CancelFunc) { _ = c.browser.pc.Close() }, ErrWebRTCClosed},
		{"context ends", func(_ *webrtcCall, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"close", func(c *webrtcCall, _ context.CancelFunc) { _ = c.leg.Close() }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			c := dialWebRTCCtx(t, ctx)
			tt.end(c, cancel)
			waitClosed(t, c.leg.Done(), "leg done")
			if err := c.leg.Err(); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Err = %v, want %v", err, tt.wantErr)
			}
			if err := c.leg.Close(); err != nil {
				t.Fatalf("Close after end: %v", err)
			}
			if _, err := c.leg.Offer(t.Context()); !errors.Is(err, ErrWebRTCClosed) {
				t.Fatalf("Offer after end = %v, want ErrWebRTCClosed", err)
			}
			// The gateway socket is closed: its port can be bound again.
			conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(c.leg.RTPAddr()))
			if err != nil {
				t.Fatalf("gateway port still bound after end: %v", err)
			}
			_ = conn.Close()
		})
	}
}

// dialWebRTCCtx is dialWebRTC with the leg bound to ctx.
func dialWebRTCCtx(t testing.TB, ctx context.Context) *webrtcCall {
	t.Helper()
	log := zerolog.New(&syncBuffer{}).Level(zerolog.DebugLevel)
	leg, err := NewWebRTCLeg(ctx, testWebRTCConfig(), log)
	if err != nil {
		t.Fatalf("NewWebRTCLeg: %v", err)
	}
	t.Cleanup(func() { _ = leg.Close() })
	b := newBrowserPeer(t, log, nil)
	offer, err := leg.Offer(t.Context())
	if err != nil {
		t.Fatalf("Offer: %v", err)
	}
	if err := leg.SetAnswer(b.answer(t, offer)); err != nil {
		t.Fatalf("SetAnswer: %v", err)
	}
	waitClosed(t, b.connected, "browser connected")
	return &webrtcCall{leg: leg, browser: b}
}

// TestWebRTCLegCloseStopsGoroutines is not parallel: it counts the
// process's goroutines, pion's included.
func TestWebRTCLegCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		log := zerolog.New(&syncBuffer{})
		leg, err := NewWebRTCLeg(ctx, testWebRTCConfig(), log)
		if err != nil {
			t.Fatalf("NewWebRTCLeg: %v", err)
		}
		b := newBrowserPeer(t, log, nil)
		offer, err := leg.Offer(ctx)
		if err != nil {
			t.Fatalf("Offer: %v", err)
		}
		if err := leg.SetAnswer(b.answer(t, offer)); err != nil {
			t.Fatalf("SetAnswer: %v", err)
		}
		waitClosed(t, b.connected, "browser connected")
		// A packet from the browser starts the leg's track reader.
		relay := newPhone(t)
		leg.Attach(relay.addr())
		for i := 0; ; i++ {
			_ = b.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i)}, Payload: make([]byte, pcmuFrame)})
			if _, _, ok := relay.recvWithin(20 * time.Millisecond); ok {
				break
			}
			if i > int(waitLimit/(20*time.Millisecond)) {
				t.Fatalf("no packet from the browser reached the relay")
			}
		}
		if n := runtime.NumGoroutine(); n <= before {
			t.Fatalf("%d goroutines while connected, want more than %d", n, before)
		}
		if err := leg.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := b.pc.GracefulClose(); err != nil {
			t.Fatalf("browser close: %v", err)
		}
		_ = relay.conn.Close()
	}()
	deadline := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, want %d\n%s", runtime.NumGoroutine(), before,
				buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWebRTCConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  WebRTCConfig
		want string // substring of the error, "" for valid
	}{
		{"zero", WebRTCConfig{}, ""},
		{"full", WebRTCConfig{GatewayIP: loopback, PublicIP: netip.MustParseAddr("198.51.100.7"),
			ICEPortMin: 40000, ICEPortMax: 40100, TelephoneEventPT: 96}, ""},
		{"unspecified gateway", WebRTCConfig{GatewayIP: netip.IPv4Unspecified()}, "gateway ip"},
		{"unspecified public", WebRTCConfig{PublicIP: netip.IPv4Unspecified()}, "public ip"},
		{"bad ice address", WebRTCConfig{ICEAddresses: []netip.Addr{{}}}, "ice address"},
		{"half port range", WebRTCConfig{ICEPortMin: 40000}, "ice port range"},
		{"inverted port range", WebRTCConfig{ICEPortMin: 40100, ICEPortMax: 40000}, "ice port range"},
		{"static event type", WebRTCConfig{TelephoneEventPT: 8}, "telephone-event"},
		{"negative timeout", WebRTCConfig{GatherTimeout: -time.Second}, "gather timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// TestWebRTCPublicIP checks that a configured public address replaces the
// host candidates of the offer.
func TestWebRTCPublicIP(t *testing.T) {
	t.Parallel()
	cfg := testWebRTCConfig()
	cfg.PublicIP = netip.MustParseAddr("198.51.100.7") // TEST-NET-2: advertised only, never contacted
	leg, err := NewWebRTCLeg(t.Context(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatalf("NewWebRTCLeg: %v", err)
	}
	t.Cleanup(func() { _ = leg.Close() })
	offer, err := leg.Offer(t.Context())
	if err != nil {
		t.Fatalf("Offer: %v", err)
	}
	if !strings.Contains(string(offer), " 198.51.100.7 ") || strings.Contains(string(offer), " 127.0.0.1 ") {
		t.Fatalf("offer does not advertise only the public address:\n%s", offer)
	}
	if _, err := leg.Offer(t.Context()); err == nil {
		t.Fatalf("second Offer succeeded, want an error")
	}
}

// TestWebRTCFromBrowserAllocs checks that the leg's own path from the
// browser to the relay allocates nothing. It is not parallel: AllocsPerRun
// counts the whole process's allocations.
func TestWebRTCFromBrowserAllocs(t *testing.T) {
	leg, err := NewWebRTCLeg(t.Context(), testWebRTCConfig(), zerolog.Nop())
	if err != nil {
		t.Fatalf("NewWebRTCLeg: %v", err)
	}
	t.Cleanup(func() { _ = leg.Close() })
	relay := newPhone(t)
	leg.Attach(relay.addr())
	pkt := rtpPacket(t, 1, 1)
	event := rtpPacket(t, 2, 1)
	event[1] = DefaultTelephoneEventPT
	for _, p := range [][]byte{pkt, event} {
		before := leg.Stats().FromBrowser.Packets
		if allocs := testing.AllocsPerRun(200, func() { leg.fromBrowser(p) }); allocs != 0 {
			t.Errorf("payload type %d: %v allocs per packet, want 0", p[1]&0x7f, allocs)
		}
		if got := leg.Stats().FromBrowser.Packets - before; got < 200 {
			t.Errorf("payload type %d: %d packets forwarded, want at least 200", p[1]&0x7f, got)
		}
	}
}

// BenchmarkWebRTCToBrowser measures one relay packet written to a connected
// browser: parse, TrackLocalStaticRTP, SRTP, the ICE socket. Nothing
// allocates per packet.
func BenchmarkWebRTCToBrowser(b *testing.B) {
	c := dialWebRTCCtx(b, b.Context())
	frames, _ := toneFrames(440)
	pkt, err := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: frames[0]}).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	f := newForwarder()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		c.leg.toBrowser(f, pkt)
	}
	b.StopTimer()
	if st := c.leg.Stats(); st.ToBrowser.Packets < uint64(b.N) {
		b.Fatalf("%d packets written, want %d: %+v", st.ToBrowser.Packets, b.N, st)
	}
}

// BenchmarkWebRTCFromBrowser measures a packet from the browser's track to
// the relay's socket, one at a time, so it is bound by latency: the
// browser's SRTP encryption, the leg's decryption, pion's receive path and
// the leg's forwarding. Without receiver reports nothing allocates.
func BenchmarkWebRTCFromBrowser(b *testing.B) {
	c := dialWebRTCCtx(b, b.Context())
	relay := newPhone(b)
	c.leg.Attach(relay.addr())
	benchFromBrowser(b, c.browser, relay.conn, "the relay")
}

// benchFromBrowser sends b.N packets from the browser's track, one at a
// time, each read at sink (named where in the failure) before the next.
func benchFromBrowser(b *testing.B, browser *browserPeer, sink *net.UDPConn, where string) {
	if err := sink.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 2048)
	p := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, pcmuFrame)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.SequenceNumber = uint16(i)
		if err := browser.track.WriteRTP(p); err != nil {
			b.Fatal(err)
		}
		if _, _, err := sink.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatalf("packet %d did not reach %s: %v", i, where, err)
		}
	}
}

// reoffer makes the browser's next offer on the established connection, as
// a browser does for a re-INVITE, with the audio direction set to dir (a
// browser that holds sends sendonly). The browser's own PeerConnection
// keeps its unchanged offer: pion takes only the offer it made.
func (b *browserPeer) reoffer(t testing.TB, dir string) []byte {
	t.Helper()
	offer, err := b.pc.CreateOffer(nil)
	if err != nil {
		t.Fatalf("browser create re-offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(offer); err != nil {
		t.Fatalf("browser set re-offer: %v", err)
	}
	waitClosed(t, gathered, "browser gathering")
	out, err := withDirection([]byte(b.pc.LocalDescription().SDP), dir)
	if err != nil {
		t.Fatalf("browser re-offer direction: %v", err)
	}
	return out
}

// sdpAttr returns the value of the first audio attribute key of body, and
// whether there is one.
func sdpAttr(t testing.TB, body []byte, key string) (string, bool) {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil || len(sd.MediaDescriptions) == 0 {
		t.Fatalf("sdp does not parse (%v):\n%s", err, body)
	}
	return sd.MediaDescriptions[0].Attribute(key)
}

// TestWebRTCLegReoffer holds and resumes a call from the browser's side on
// the same connection: each re-offer gets a real answer (not the leg's
// first offer) with the mirrored direction, the DTLS role and ICE
// credentials of the call, and every candidate. While the browser holds,
// the leg sends it nothing and its audio still reaches the caller; after
// resuming it hears the caller again. An inactive hold resumes too.
func TestWebRTCLegReoffer(t *testing.T) {
	t.Parallel()
	callerFrames, callerSet := toneFrames(440)
	browserFrames, browserSet := toneFrames(1000)
	c := dialWebRTC(t, testWebRTCConfig(), callerSet)
	ufrag, _ := sdpAttr(t, c.offer, "ice-ufrag")
	browserUfrag, _ := sdpAttr(t, []byte(c.browser.pc.LocalDescription().SDP), "ice-ufrag")

	ctx, cancel := context.WithCancel(t.Context())
	var senders sync.WaitGroup
	t.Cleanup(func() { cancel(); senders.Wait() })
	sendEvery(ctx, &senders, func(i int) []byte {
		pkt, _ := (&rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: pcmuPT, SequenceNumber: uint16(i), Timestamp: uint32(i * pcmuFrame), SSRC: 0xcafe},
			Payload: callerFrames[i%50],
		}).Marshal()
		return pkt
	}, func(b []byte) { _, _ = c.caller.conn.WriteToUDPAddrPort(b, c.s.LocalA()) })
	var browserSent atomic.Int64
	sendEvery(ctx, &senders, func(i int) []byte {
		pkt, _ := (&rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: pcmuPT, SequenceNumber: uint16(i), Timestamp: uint32(i * pcmuFrame), SSRC: 0xbeef},
			Payload: browserFrames[i%50],
		}).Marshal()
		return pkt
	}, func(b []byte) {
		var p rtp.Packet
		if p.Unmarshal(b) == nil && c.browser.track.WriteRTP(&p) == nil {
			browserSent.Add(1)
		}
	})
	// callerHears waits until the caller has received n more of the
	// browser's frames.
	callerHears := func(n int) {
		t.Helper()
		for heard := 0; heard < n; {
			pkt, _, ok := c.caller.recvWithin(waitLimit)
			if !ok {
				t.Fatalf("caller heard %d browser frames, want %d; leg %+v", heard, n, c.leg.Stats())
			}
			var p rtp.Packet
			if p.Unmarshal(pkt) == nil && browserSet[string(p.Payload)] {
				heard++
			}
		}
	}
	eventually(t, func() bool { return c.browser.toneIn.Load() >= 25 })
	callerHears(25)

	for _, step := range []struct {
		offer, answer string
		hearsCaller   bool
	}{
		{DirectionSendOnly, DirectionRecvOnly, false},
		{DirectionSendRecv, DirectionSendRecv, true},
		{DirectionInactive, DirectionInactive, false},
		{DirectionSendRecv, DirectionSendRecv, true},
	} {
		offer := c.browser.reoffer(t, step.offer)
		actx, acancel := context.WithTimeout(t.Context(), waitLimit)
		answer, err := c.leg.AnswerReoffer(actx, offer)
		acancel()
		if err != nil {
			t.Fatalf("%s re-offer: %v", step.offer, err)
		}
		if string(answer) == string(c.offer) {
			t.Fatalf("%s re-offer answered with the leg's first offer", step.offer)
		}
		if _, ok := sdpAttr(t, answer, step.answer); !ok {
			t.Errorf("answer to %s has no a=%s:\n%s", step.offer, step.answer, answer)
		}
		setup, _ := sdpAttr(t, answer, "setup")
		got, _ := sdpAttr(t, answer, "ice-ufrag")
		if setup != "active" && setup != "passive" || got != ufrag {
			t.Errorf("answer to %s: setup %q, ice-ufrag %q; want active or passive and the call's %q", step.offer, setup, got, ufrag)
		}
		if _, ok := sdpAttr(t, answer, "end-of-candidates"); !ok {
			t.Errorf("answer to %s lacks a=end-of-candidates", step.offer)
		}
		if err := c.browser.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
			t.Fatalf("browser takes the answer to %s: %v\n%s", step.offer, err, answer)
		}
		if got, _ := sdpAttr(t, []byte(c.browser.pc.LocalDescription().SDP), "ice-ufrag"); got != browserUfrag {
			t.Fatalf("the browser restarted ICE (%q, was %q)", got, browserUfrag)
		}

		if !step.hearsCaller {
			// Held: the caller's audio is dropped at the leg, the browser's
			// still reaches the caller.
			held := c.leg.Stats().DroppedHeld
			eventually(t, func() bool { return c.leg.Stats().DroppedHeld >= held+10 })
			before := c.browser.toneIn.Load()
			eventually(t, func() bool { return c.leg.Stats().DroppedHeld >= held+20 })
			if got := c.browser.toneIn.Load(); got != before {
				t.Errorf("on hold (%s) the browser got %d caller frames", step.offer, got-before)
			}
			callerHears(10)
			continue
		}
		before := c.browser.toneIn.Load()
		eventually(t, func() bool { return c.browser.toneIn.Load() >= before+25 })
		callerHears(10)
	}
	if st := c.leg.Stats(); st.DroppedInvalid != 0 || st.SendErrors != 0 || st.DroppedSource != 0 {
		t.Errorf("leg stats = %+v", st)
	}
	if err := c.leg.Err(); err != nil {
		t.Errorf("leg ended: %v", err)
	}
	t.Logf("browser sent %d frames; leg %+v", browserSent.Load(), c.leg.Stats())
}

// TestWebRTCLegBadReoffer checks that an offer without PCMU, and one that
// does not parse, are refused and leave the call as it was.
func TestWebRTCLegBadReoffer(t *testing.T) {
	t.Parallel()
	_, callerSet := toneFrames(440)
	c := dialWebRTC(t, testWebRTCConfig(), callerSet)
	offer := c.browser.reoffer(t, DirectionSendRecv)
	if _, err := c.leg.AnswerReoffer(t.Context(), []byte("v=0\r\n")); err == nil {
		t.Fatalf("a broken re-offer was answered")
	}
	// The browser's pending offer still gets its answer afterwards.
	answer, err := c.leg.AnswerReoffer(t.Context(), offer)
	if err != nil {
		t.Fatalf("re-offer after a broken one: %v", err)
	}
	if err := c.browser.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatalf("browser takes the answer: %v", err)
	}
	if c.leg.pc.SignalingState() != webrtc.SignalingStateStable {
		t.Fatalf("leg signaling state %s, want stable", c.leg.pc.SignalingState())
	}
}

// sendRTP sends n packets of frames (SSRC ssrc, sequence numbers from seq:
// SRTP drops a sequence number it has seen) every 20 ms with write.
func sendRTP(n int, ssrc uint32, seq int, frames [][]byte, write func([]byte)) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := range n {
		pkt, _ := (&rtp.Packet{
			Header: rtp.Header{Version: 2, PayloadType: pcmuPT, SequenceNumber: uint16(seq + i),
				Timestamp: uint32((seq + i) * pcmuFrame), SSRC: ssrc},
			Payload: frames[i%len(frames)],
		}).Marshal()
		write(pkt)
		<-tick.C
	}
}

// browserWrite writes a marshalled packet to the browser peer's track.
func (b *browserPeer) write(pkt []byte) {
	var p rtp.Packet
	if p.Unmarshal(pkt) == nil {
		_ = b.track.WriteRTP(&p)
	}
}

// hears waits until ph has received n packets from the session at from
// whose payload is in set, ignoring others.
func hears(t testing.TB, ph *phone, from netip.AddrPort, set map[string]bool, n int) {
	t.Helper()
	for heard := 0; heard < n; {
		pkt, src, ok := ph.recvWithin(waitLimit)
		if !ok {
			t.Fatalf("phone %s heard %d frames, want %d", ph.addr(), heard, n)
		}
		var p rtp.Packet
		if src == from && p.Unmarshal(pkt) == nil && set[string(p.Payload)] {
			heard++
		}
	}
}

// TestWebRTCLegInMemory checks that a Session and a WebRTCLeg of one
// process exchange packets in memory: re-pointing the leg's socket
// elsewhere (Attach) changes nothing, packets sent to side B's socket from
// the network are dropped, both counters agree, and a second session that
// takes the leg over (a transfer) gets its audio while the first one's is
// dropped at the leg.
func TestWebRTCLegInMemory(t *testing.T) {
	t.Parallel()
	callerFrames, callerSet := toneFrames(440)
	browserFrames, browserSet := toneFrames(1000)
	c := dialWebRTC(t, testWebRTCConfig(), callerSet)
	if c.s.bLeg.Load() != c.leg || c.leg.session.Load() != c.s {
		t.Fatalf("session and leg are not joined in memory")
	}
	// Through sockets the browser's audio would now go to the stranger,
	// and the relay's packets (not from the stranger) would be dropped.
	stranger := newPhone(t)
	c.leg.Attach(stranger.addr())
	var senders sync.WaitGroup
	t.Cleanup(senders.Wait)

	senders.Go(func() {
		sendRTP(30, 0xcafe, 0, callerFrames, func(b []byte) { _, _ = c.caller.conn.WriteToUDPAddrPort(b, c.s.LocalA()) })
	})
	senders.Go(func() { sendRTP(30, 0xbeef, 0, browserFrames, c.browser.write) })
	eventually(t, func() bool { return c.browser.toneIn.Load() >= 25 })
	hears(t, c.caller, c.s.LocalA(), browserSet, 25)

	// Side B's sockets take nothing from the network.
	stranger.send(c.s.LocalB(), rtpPacket(t, 1, 0xbad))
	wantStats(t, c.s, "the stranger's packet dropped", func(st Stats) bool { return st.DroppedSource >= 1 })

	eventually(t, func() bool {
		st, ls := c.s.Stats(), c.leg.Stats()
		return st.AToB.Packets == 30 && ls.ToBrowser.Packets+ls.DroppedNotReady == 30 &&
			ls.FromBrowser.Packets >= 30 && st.BToA.Packets == ls.FromBrowser.Packets
	})
	if ls := c.leg.Stats(); ls.DroppedSource != 0 || ls.DroppedInvalid != 0 || ls.SendErrors != 0 {
		t.Errorf("leg stats = %+v", ls)
	}

	// A second session takes the leg over; the first one's audio no
	// longer reaches the browser.
	s2 := c.tb.newSession(t)
	caller2 := newPhone(t)
	s2.SetRemoteA(caller2.addr())
	s2.SetRemoteB(c.leg.RTPAddr())
	s2.SetRemoteRTCPB(netip.AddrPort{})
	s2.Start(t.Context())
	senders.Go(func() { sendRTP(30, 0xbeef, 100, browserFrames, c.browser.write) })
	hears(t, caller2, s2.LocalA(), browserSet, 25)
	before := c.browser.toneIn.Load()
	senders.Go(func() {
		sendRTP(30, 0xcafe, 100, callerFrames, func(b []byte) { _, _ = c.caller.conn.WriteToUDPAddrPort(b, c.s.LocalA()) })
	})
	eventually(t, func() bool { return c.leg.Stats().DroppedSource >= 25 })
	senders.Go(func() {
		sendRTP(30, 0xd00d, 0, callerFrames, func(b []byte) { _, _ = caller2.conn.WriteToUDPAddrPort(b, s2.LocalA()) })
	})
	eventually(t, func() bool { return c.browser.toneIn.Load() >= before+25 })
	if got := c.s.Stats().BToA.Packets; got != 30 {
		t.Errorf("the first session relayed %d of the browser's packets, want only the 30 before the move", got)
	}
}

// TestWebRTCLegKeepsSessionAlive checks the silence timeout with a browser
// agent: the browser's audio alone keeps the session up (a caller who
// holds sends nothing), and the session ends once nobody sends.
func TestWebRTCLegKeepsSessionAlive(t *testing.T) {
	t.Parallel()
	browserFrames, browserSet := toneFrames(1000)
	c := dialWebRTCSilence(t, testWebRTCConfig(), nil, 300*time.Millisecond)
	var senders sync.WaitGroup
	t.Cleanup(senders.Wait)
	senders.Go(func() { sendRTP(75, 0xbeef, 0, browserFrames, c.browser.write) })
	hears(t, c.caller, c.s.LocalA(), browserSet, 60) // 1.2 s, four silence timeouts
	select {
	case <-c.s.Done():
		t.Fatalf("session ended while the browser sent: %v", c.s.Err())
	default:
	}
	waitDone(t, c.s)
	if !errors.Is(c.s.Err(), ErrSilence) {
		t.Fatalf("session Err = %v, want ErrSilence", c.s.Err())
	}
}

// TestWebRTCInMemoryAllocs checks that the relay's hops to and from a
// WebRTC leg allocate nothing (pion's own work is in the benchmarks). It
// is not parallel: AllocsPerRun counts the whole process's allocations.
func TestWebRTCInMemoryAllocs(t *testing.T) {
	tb := setup(t, 2, time.Minute)
	s := tb.newSession(t) // not started: its paths are called directly
	caller := newPhone(t)
	leg, err := NewWebRTCLeg(t.Context(), testWebRTCConfig(), zerolog.Nop())
	if err != nil {
		t.Fatalf("NewWebRTCLeg: %v", err)
	}
	t.Cleanup(func() { _ = leg.Close() })
	s.SetRemoteA(caller.addr())
	s.SetRemoteB(leg.RTPAddr())
	h := newHeader()
	pkt := rtpPacket(t, 1, 1)
	s.relay(&s.a.rtp, h, pkt, caller.addr()) // latching allocates once
	tests := []struct {
		name  string
		send  func()
		count func() uint64
	}{
		{"caller to leg (not connected yet)", func() { s.relay(&s.a.rtp, h, pkt, caller.addr()) },
			func() uint64 { return leg.Stats().DroppedNotReady }},
		{"leg to caller", func() { leg.fromBrowser(pkt) }, func() uint64 { return s.Stats().BToA.Packets }},
		{"network to side b", func() { s.relay(&s.b.rtp, h, pkt, caller.addr()) }, func() uint64 { return s.Stats().DroppedSource }},
	}
	for _, tt := range tests {
		before := tt.count()
		if allocs := testing.AllocsPerRun(200, tt.send); allocs != 0 {
			t.Errorf("%s: %v allocs per packet, want 0", tt.name, allocs)
		}
		if got := tt.count() - before; got < 200 {
			t.Errorf("%s: counter moved by %d, want at least 200: the path under test was not taken", tt.name, got)
		}
	}
}

// TestWebRTCLegPlayB plays a prompt to a browser agent (ringback while a
// callback dials the customer): it reaches the browser, through the leg's
// socket, while the caller's audio is held back.
func TestWebRTCLegPlayB(t *testing.T) {
	t.Parallel()
	promptFrames, promptSet := toneFrames(425)
	c := dialWebRTC(t, testWebRTCConfig(), promptSet)
	var prompt []byte
	for _, f := range promptFrames[:25] {
		prompt = append(prompt, f...)
	}
	callerFrames, _ := toneFrames(440)
	var senders sync.WaitGroup
	t.Cleanup(senders.Wait)
	senders.Go(func() {
		sendRTP(25, 0xcafe, 0, callerFrames, func(b []byte) { _, _ = c.caller.conn.WriteToUDPAddrPort(b, c.s.LocalA()) })
	})
	if err := c.s.PlayB(t.Context(), prompt, PayloadPCMU); err != nil {
		t.Fatalf("PlayB: %v", err)
	}
	eventually(t, func() bool { return c.browser.toneIn.Load() >= 20 })
	if n := c.browser.otherIn.Load(); n > 3 {
		t.Errorf("browser got %d frames other than the prompt while it played", n)
	}
}

// TestToBrowserPayload checks where toBrowser finds the payload of a relay
// packet (headerLen and the padding), whatever its header holds.
func TestToBrowserPayload(t *testing.T) {
	t.Parallel()
	payload := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	ext := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1, CSRC: []uint32{7, 8}}, Payload: payload}
	if err := ext.SetExtension(1, []byte{0x30, 0x31, 0x32}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pkt  *rtp.Packet
	}{
		{"plain", &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: payload}},
		{"csrc and extension", ext},
		{"padding", &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1, Padding: true}, Payload: payload, PaddingSize: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := tt.pkt.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			h := newHeader()
			if !validRTP(h, b) {
				t.Fatalf("packet not valid")
			}
			end := len(b)
			if h.Padding {
				end -= int(b[end-1])
			}
			if got := b[headerLen(b):end]; string(got) != string(payload) {
				t.Fatalf("payload %x, want %x", got, payload)
			}
		})
	}
}

// BenchmarkWebRTCCallFromBrowser measures a packet from the browser's track
// to the caller through a whole call, one at a time: the browser's SRTP,
// the leg's pion receive path, the hop to the session (in memory) and the
// relay's write to the caller.
func BenchmarkWebRTCCallFromBrowser(b *testing.B) {
	c := dialWebRTC(b, testWebRTCConfig(), nil)
	benchFromBrowser(b, c.browser, c.caller.conn, "the caller")
}

// A browser that calls (an agent calling a colleague) makes the offer: the
// leg answers it with complete gathering and PCMU, its socket bridged to the
// relay's side A, and audio flows both ways with the plain phone on side B.
func TestWebRTCLegAnswersABrowsersOffer(t *testing.T) {
	t.Parallel()
	colleagueFrames, colleagueSet := toneFrames(700)
	browserFrames, browserSet := toneFrames(1000)
	tb := setup(t, 2, time.Minute)
	log := zerolog.New(tb.log).Level(zerolog.DebugLevel).With().Str("call_id", "consult-1").Logger()
	s, colleague := tb.newSession(t), newPhone(t)
	leg, err := NewWebRTCLeg(t.Context(), testWebRTCConfig(), log)
	if err != nil {
		t.Fatalf("NewWebRTCLeg: %v", err)
	}
	t.Cleanup(func() { _ = leg.Close() })
	browser := newBrowserPeer(t, log, colleagueSet)

	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	answer, err := leg.Answer(ctx, browser.reoffer(t, DirectionSendRecv))
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	for _, want := range []string{"a=rtpmap:0 PCMU/8000", "a=end-of-candidates", "a=sendrecv", "a=setup:active"} {
		if !strings.Contains(string(answer), want) {
			t.Errorf("answer lacks %q:\n%s", want, answer)
		}
	}
	if _, err := leg.Answer(ctx, answer); err == nil {
		t.Errorf("a second Answer on the same leg was accepted")
	}
	if err := browser.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatalf("browser set answer: %v", err)
	}
	s.SetRemoteA(leg.RTPAddr())
	s.SetRemoteRTCPA(netip.AddrPort{})
	leg.Attach(s.LocalA())
	s.SetRemoteB(colleague.addr())
	s.Start(t.Context())
	waitClosed(t, browser.connected, "browser connected")
	eventually(t, leg.connected.Load)

	go sendRTP(100, 0xbeef, 0, browserFrames, browser.write)
	hears(t, colleague, s.LocalB(), browserSet, 20)
	go sendRTP(100, 0xcafe, 0, colleagueFrames, func(b []byte) { _, _ = colleague.conn.WriteToUDPAddrPort(b, s.LocalB()) })
	eventually(t, func() bool { return browser.toneIn.Load() >= 20 })
}

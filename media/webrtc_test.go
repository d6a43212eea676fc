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
	tb := setup(t, 2, time.Minute)
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
	if err := relay.conn.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 2048)
	p := &rtp.Packet{Header: rtp.Header{Version: 2}, Payload: make([]byte, pcmuFrame)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.SequenceNumber = uint16(i)
		if err := c.browser.track.WriteRTP(p); err != nil {
			b.Fatal(err)
		}
		if _, _, err := relay.conn.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatalf("packet %d did not reach the relay: %v", i, err)
		}
	}
}

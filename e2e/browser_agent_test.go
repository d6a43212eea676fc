package e2e

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/teamline/teamline/config"
	"github.com/teamline/teamline/internal/peer"
	"github.com/teamline/teamline/store"
)

// goBrowser is a WebRTC endpoint the way a browser agent is one: it answers
// Teamline's offer with complete gathering, speaks PCMU, sends a tone and
// counts what it hears. (The Chromium test of the agent console is the
// next step; this proves the SIP-over-WebSocket + WebRTC path end to end.)
type goBrowser struct {
	pc        *webrtc.PeerConnection
	track     *webrtc.TrackLocalStaticRTP
	connected chan struct{}
	heard     atomic.Int64 // non-silent PCMU packets received
}

func newGoBrowser(t *testing.T) *goBrowser {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000},
		PayloadType:        0,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetPrflxAcceptanceMinWait(0)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "audio", "agent")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	b := &goBrowser{pc: pc, track: track, connected: make(chan struct{})}
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(b.connected) })
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			var sum float64
			for _, u := range p.Payload {
				v := float64(peer.DecodeMulaw(u))
				sum += v * v
			}
			if len(p.Payload) > 0 && math.Sqrt(sum/float64(len(p.Payload))) > 300 {
				b.heard.Add(1)
			}
		}
	})
	return b
}

func (b *goBrowser) answer(offer []byte) ([]byte, error) {
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		return nil, err
	}
	ans, err := b.pc.CreateAnswer(nil)
	if err != nil {
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(b.pc)
	if err := b.pc.SetLocalDescription(ans); err != nil {
		return nil, err
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("gathering did not complete")
	}
	return []byte(b.pc.LocalDescription().SDP), nil
}

// speak sends a 1000 Hz PCMU tone every 20 ms until ctx ends.
func (b *goBrowser) speak(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seq uint16
	var ts uint32
	payload := make([]byte, 160)
	for n := 0; ; n++ {
		for i := range payload {
			s := 8000 * math.Sin(2*math.Pi*1000*float64(n*160+i)/8000)
			payload[i] = peer.EncodeMulaw(int16(s))
		}
		_ = b.track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: ts, SSRC: 4242}, Payload: payload})
		seq++
		ts += 160
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// browserAgent is anna working in a "browser": registered over WebSocket,
// answering INVITEs with goBrowser's WebRTC answer.
type browserAgent struct {
	rtc     *goBrowser
	ua      *sipgo.UserAgent
	invited chan *gosip.Request
	ended   chan struct{}
}

func startBrowserAgent(t *testing.T, tl *teamline, ctx context.Context) *browserAgent {
	t.Helper()
	ws := tl.app.SIP.WSAddr()
	browser := newGoBrowser(t)

	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua)
	if err != nil {
		t.Fatal(err)
	}
	cparams := gosip.NewParams()
	cparams.Add("transport", "ws")
	contact := gosip.ContactHeader{Address: gosip.Uri{Scheme: "sip", User: "anna", Host: "b7x2k9.invalid", UriParams: cparams}}
	dialogs := sipgo.NewDialogServerCache(client, contact)
	invited := make(chan *gosip.Request, 1)
	ended := make(chan struct{})
	srv.OnInvite(func(req *gosip.Request, tx gosip.ServerTransaction) {
		invited <- req
		dlg, err := dialogs.ReadInvite(req, tx)
		if err != nil {
			t.Errorf("read INVITE: %v", err)
			return
		}
		_ = dlg.Respond(180, "Ringing", nil)
		answer, err := browser.answer(req.Body())
		if err != nil {
			t.Errorf("browser answer: %v", err)
			_ = dlg.Respond(488, "Not Acceptable Here", nil)
			return
		}
		if err := dlg.RespondSDP(answer); err != nil {
			t.Errorf("200 OK: %v", err)
			return
		}
		<-dlg.Context().Done()
		close(ended)
	})
	srv.OnAck(func(req *gosip.Request, tx gosip.ServerTransaction) { _ = dialogs.ReadAck(req, tx) })
	srv.OnBye(func(req *gosip.Request, tx gosip.ServerTransaction) { _ = dialogs.ReadBye(req, tx) })

	params := gosip.NewParams()
	params.Add("transport", "ws")
	reg := gosip.NewRequest(gosip.REGISTER, gosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(ws.Port()), UriParams: params})
	reg.SetTransport("WS")
	aor := gosip.Uri{Scheme: "sip", User: "anna", Host: "teamline.test"}
	reg.AppendHeader(&gosip.ToHeader{Address: aor})
	from := &gosip.FromHeader{Address: aor, Params: gosip.NewParams()}
	from.Params.Add("tag", gosip.GenerateTagN(8))
	reg.AppendHeader(from)
	reg.AppendHeader(&contact)
	res, err := client.Do(ctx, reg)
	if err == nil && res.StatusCode == 401 {
		res, err = client.DoDigestAuth(ctx, reg, res, sipgo.DigestAuth{Username: "anna", Password: passAnna})
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER over WebSocket: %v %v", res, err)
	}
	tl.waitAgentState(t, "anna", "available")

	return &browserAgent{rtc: browser, ua: ua, invited: invited, ended: ended}
}

// A browser agent registers over WebSocket, is rung with a WebRTC offer
// (ICE + DTLS-SRTP terminated by Teamline), answers, and talks with a
// customer on the trunk's plain RTP: audio flows both ways through the same
// relay as softphone calls; the customer's BYE ends the browser's dialog.
func TestBrowserAgentTakesCallOverWebRTC(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{edit: func(c *config.Config) {
		c.SIP.WS = "127.0.0.1:0"
		c.SIP.WSOrigins = []string{"http://console.test"}
	}})
	ctx := waitCtx(t, 40*time.Second)
	agent := startBrowserAgent(t, tl, ctx)
	browser, invited, ended := agent.rtc, agent.invited, agent.ended
	callerRTP := peer.NewRTPEndpoint(t)
	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 30 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(callerRTP.Port()), "caller": erika, "call_ms": "3000"},
	})
	var invite *gosip.Request
	select {
	case invite = <-invited:
	case <-ctx.Done():
		t.Fatal("the browser agent was never rung")
	}
	for _, want := range []string{"UDP/TLS/RTP/SAVPF", "a=fingerprint:sha-256", "a=ice-ufrag", "PCMU/8000"} {
		if !strings.Contains(string(invite.Body()), want) {
			t.Errorf("offer to the browser lacks %q", want)
		}
	}
	toAgent, err := customer.RemoteRTP(ctx)
	if err != nil {
		t.Fatalf("customer got no answer: %v", err)
	}
	select {
	case <-browser.connected:
	case <-ctx.Done():
		t.Fatal("ICE/DTLS with Teamline never connected")
	}
	go browser.speak(ctx)
	callerRTP.StartSending(ctx, toAgent, 0, 440)
	if err := callerRTP.WaitPackets(ctx, 40); err != nil {
		t.Fatalf("customer heard nothing from the browser: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for browser.heard.Load() < 40 {
		if time.Now().After(deadline) {
			t.Fatalf("browser heard %d non-silent packets, want 40", browser.heard.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := callerRTP.Received(); !st.NonSilent || st.FreqHz < 900 || st.FreqHz > 1100 {
		t.Errorf("customer heard %+v, want the browser's 1000 Hz tone", st)
	}
	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer: exit %d, %v", code, err)
	}
	select {
	case <-ended:
	case <-ctx.Done():
		t.Fatal("the browser's dialog did not end with the customer's BYE")
	}
	if rec := tl.lastCall(t, erikaID); rec.Outcome != store.OutcomeAnswered || rec.AgentID != "anna" {
		t.Fatalf("call record = %+v", rec)
	}
}

// The browser vanishes mid-call (the page is closed): Teamline notices the
// WebRTC connection closing, hangs up the customer and frees the agent.
func TestBrowserVanishingMidCallEndsItCleanly(t *testing.T) {
	t.Parallel()
	tl := startTeamline(t, tlOptions{edit: func(c *config.Config) {
		c.SIP.WS = "127.0.0.1:0"
		c.SIP.WSOrigins = []string{"http://console.test"}
	}})
	ctx := waitCtx(t, 40*time.Second)
	agent := startBrowserAgent(t, tl, ctx)

	customer := peer.StartSIPp(t, peer.SIPpOptions{
		Scenario: "customer_call.xml", Remote: tl.sip, Timeout: 30 * time.Second,
		Keys: map[string]string{"rtp_port": fmt.Sprint(peer.NewRTPEndpoint(t).Port()), "caller": erika, "hangup": "them"},
	})
	if _, err := customer.RemoteRTP(ctx); err != nil {
		t.Fatalf("customer got no answer: %v", err)
	}
	select {
	case <-agent.rtc.connected:
	case <-ctx.Done():
		t.Fatal("ICE/DTLS never connected")
	}
	tl.waitAgentState(t, "anna", "on_call")

	// The tab closes: the peer connection and the socket go.
	_ = agent.rtc.pc.Close()
	_ = agent.ua.Close()

	if code, err := customer.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("customer (expects Teamline's BYE): exit %d, %v", code, err)
	}
	rec := tl.lastCall(t, erikaID)
	if rec.Outcome != store.OutcomeAnswered || rec.HangupBy != store.HangupAgent {
		t.Fatalf("record = %+v, want answered and ended from the agent's side", rec)
	}
	// The agent is free of the call (and offline: the socket is gone).
	tl.waitAgentState(t, "anna", "offline")
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// The browser part's load generator: agents that behave like a browser
// agent page as far as Teamline can tell. Each registers over its own SIP
// WebSocket with digest auth and a *.invalid Contact, answers Teamline's
// INVITE (a WebRTC offer with complete gathering) with a pion answer after
// complete gathering, then speaks and listens through a DTLS-SRTP
// PeerConnection: PCMU every 20 ms, sent by the harness's RTP generator
// (a virtual stream per call), and every packet received is counted by it.

// rtcCalls is one browser step as the agents see it: which generator
// streams the calls speak on and what happened to them.
type rtcCalls struct {
	ctx context.Context // ends the calls still up when the step is over
	g   *generator
	n   int // calls in the step; agent j (< n) speaks on stream n+j

	invited   atomic.Int64
	connected atomic.Int64
	failed    atomic.Int64
	active    atomic.Int64 // INVITE handlers still running

	mu    sync.Mutex
	setup []float64 // INVITE received -> ICE and DTLS connected, ms
	errs  []string  // the first few failures, for the report
}

func (c *rtcCalls) fail(format string, args ...any) {
	c.failed.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 5 {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

// setupTimes returns a copy of the INVITE->connected times in ms.
func (c *rtcCalls) setupTimes() []float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.setup)
}

// failures returns the first failures.
func (c *rtcCalls) failures() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

// rtcFleet is every WebRTC agent of the run.
type rtcFleet struct {
	api    *webrtc.API
	agents []*rtcAgent
	calls  atomic.Pointer[rtcCalls] // the running step; nil between steps
}

// rtcAgent is one browser agent: a SIP user agent of its own (so its own
// WebSocket, as each browser tab has) and the dialogs of its calls.
type rtcAgent struct {
	fleet   *rtcFleet
	index   int // j: the agent's calls speak on stream n+j
	user    string
	ua      *sipgo.UserAgent
	client  *sipgo.Client
	dialogs *sipgo.DialogServerCache
}

// newRTCFleet builds the shared WebRTC API: PCMU only (as Teamline's
// browser agents are told to register), loopback candidates, no mDNS, and
// no waiting for a better pair than a peer-reflexive one. pion and sipgo
// log (warnings and worse) to logw.
func newRTCFleet(logw io.Writer) (*rtcFleet, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000},
		PayloadType:        0,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register pcmu: %w", err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-16"},
		PayloadType:        101,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register telephone-event: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetPrflxAcceptanceMinWait(0)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.LoggerFactory = &logging.DefaultLoggerFactory{Writer: logw, DefaultLogLevel: logging.LogLevelWarn}
	return &rtcFleet{api: webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))}, nil
}

// register starts count agents named by name(j) and registers each over
// its own WebSocket to wsAddr (digest auth with password), a few at a
// time. It returns how many registered; the others are closed.
func (f *rtcFleet) register(ctx context.Context, wsAddr *net.TCPAddr, domain string, count int, name func(int) string, password string) (int, error) {
	const parallel = 16
	agents := make([]*rtcAgent, count)
	errs := make([]error, count)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for j := range count {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a, err := f.newAgent(ctx, j, name(j), wsAddr, domain, password)
			agents[j], errs[j] = a, err
		}()
	}
	wg.Wait()
	var first error
	for j, a := range agents {
		if errs[j] != nil {
			if first == nil {
				first = errs[j]
			}
			continue
		}
		f.agents = append(f.agents, a)
	}
	return len(f.agents), first
}

func (f *rtcFleet) newAgent(ctx context.Context, j int, user string, wsAddr *net.TCPAddr, domain, password string) (*rtcAgent, error) {
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"), sipgo.WithUserAgent("tlbench-browser"))
	if err != nil {
		return nil, fmt.Errorf("agent %s: user agent: %w", user, err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("agent %s: server: %w", user, err)
	}
	client, err := sipgo.NewClient(ua)
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("agent %s: client: %w", user, err)
	}
	// A browser's Contact host is a random *.invalid name (RFC 7118
	// section 5.2): Teamline must send the INVITE down the socket.
	host := make([]byte, 5)
	_, _ = rand.Read(host)
	cparams := sip.NewParams()
	cparams.Add("transport", "ws")
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: hex.EncodeToString(host) + ".invalid", UriParams: cparams}}
	a := &rtcAgent{fleet: f, index: j, user: user, ua: ua, client: client, dialogs: sipgo.NewDialogServerCache(client, contact)}
	srv.OnInvite(a.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = a.dialogs.ReadAck(req, tx) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) { _ = a.dialogs.ReadBye(req, tx) })

	params := sip.NewParams()
	params.Add("transport", "ws")
	reg := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: wsAddr.IP.String(), Port: wsAddr.Port, UriParams: params})
	reg.SetTransport("WS")
	aor := sip.Uri{Scheme: "sip", User: user, Host: domain}
	reg.AppendHeader(&sip.ToHeader{Address: aor})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	reg.AppendHeader(from)
	reg.AppendHeader(&contact)
	reg.AppendHeader(sip.NewHeader("Expires", "3600"))
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, err := client.Do(rctx, reg)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = client.DoDigestAuth(rctx, reg, res, sipgo.DigestAuth{Username: user, Password: password})
	}
	if err == nil && res.StatusCode != 200 {
		err = fmt.Errorf("status %d %s", res.StatusCode, res.Reason)
	}
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("agent %s: register over websocket: %w", user, err)
	}
	return a, nil
}

// onInvite answers like a browser: 180, then a WebRTC answer after
// complete gathering (SIP has no trickle ICE), then holds the call until
// Teamline's BYE or the end of the step.
func (a *rtcAgent) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	received := time.Now()
	dlg, err := a.dialogs.ReadInvite(req, tx)
	if err != nil {
		return
	}
	calls := a.fleet.calls.Load()
	if calls == nil || a.index >= calls.n {
		// No step expects this call.
		_ = dlg.Respond(486, "Busy Here", nil)
		return
	}
	calls.active.Add(1)
	defer calls.active.Add(-1)
	calls.invited.Add(1)
	_ = dlg.Respond(180, "Ringing", nil)
	s := calls.g.streams[calls.n+a.index]

	pc, track, err := a.fleet.peer()
	if err != nil {
		calls.fail("%s: %v", a.user, err)
		_ = dlg.Respond(500, "Server Internal Error", nil)
		return
	}
	defer func() {
		s.out.Store(nil)
		_ = pc.Close()
	}()
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			once.Do(func() {
				calls.mu.Lock()
				calls.setup = append(calls.setup, float64(time.Since(received).Microseconds())/1000)
				calls.mu.Unlock()
				calls.connected.Add(1)
				s.out.Store(&packetOut{w: track})
			})
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.out.Store(nil)
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			calls.g.countRTP(buf[:n])
		}
	})
	answer, err := answerOffer(calls.ctx, pc, req.Body())
	if err != nil {
		calls.fail("%s: %v", a.user, err)
		_ = dlg.Respond(488, "Not Acceptable Here", nil)
		return
	}
	if err := dlg.RespondSDP(answer); err != nil {
		calls.fail("%s: 200 OK: %v", a.user, err)
		return
	}
	select {
	case <-dlg.Context().Done():
	case <-calls.ctx.Done():
		bctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = dlg.Bye(bctx)
		cancel()
	}
}

// peer is a new PeerConnection with one PCMU track to send on.
func (f *rtcFleet) peer() (*webrtc.PeerConnection, *webrtc.TrackLocalStaticRTP, error) {
	pc, err := f.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, fmt.Errorf("peer connection: %w", err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "audio", "tlbench")
	if err != nil {
		_ = pc.Close()
		return nil, nil, fmt.Errorf("track: %w", err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		_ = pc.Close()
		return nil, nil, fmt.Errorf("add track: %w", err)
	}
	return pc, track, nil
}

// answerOffer sets Teamline's offer and returns the answer with every
// candidate in it.
func answerOffer(ctx context.Context, pc *webrtc.PeerConnection, offer []byte) ([]byte, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		return nil, fmt.Errorf("set offer: %w", err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, fmt.Errorf("create answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return nil, fmt.Errorf("set answer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, fmt.Errorf("gathering: %w", ctx.Err())
	case <-time.After(10 * time.Second):
		return nil, errors.New("gathering did not complete in 10s")
	}
	return []byte(pc.LocalDescription().SDP), nil
}

// close ends every agent's user agent (and so its WebSocket: Teamline
// drops the bindings).
func (f *rtcFleet) close() {
	for _, a := range f.agents {
		_ = a.ua.Close()
	}
	f.agents = nil
}

// quietSlog sends sipgo's log/slog output (warnings and worse) to w for the
// rest of the run: sipgo logs through slog's default logger.
func quietSlog(w io.Writer) {
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

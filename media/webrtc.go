package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/logging"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/rs/zerolog"
)

// ErrGatherTimeout is returned by WebRTCLeg.Offer when ICE gathering does
// not complete within WebRTCConfig.GatherTimeout. SIP has no trickle ICE, so
// an offer without its complete candidates is useless.
var ErrGatherTimeout = errors.New("ice gathering did not complete in time")

// ErrWebRTCFailed is the Err of a WebRTCLeg whose ICE or DTLS connection
// failed (the browser vanished or its network went away for good).
var ErrWebRTCFailed = errors.New("webrtc connection failed")

// ErrWebRTCClosed is the Err of a WebRTCLeg that the browser closed (DTLS
// close_notify), and is returned by the methods of a leg that has ended.
var ErrWebRTCClosed = errors.New("webrtc leg closed")

// ErrNoPCMU is returned by WebRTCLeg.SetAnswer when the answer does not
// accept PCMU, the only codec a WebRTC leg relays.
var ErrNoPCMU = errors.New("answer does not accept pcmu")

const (
	// DefaultGatherTimeout bounds ICE gathering in WebRTCLeg.Offer when
	// WebRTCConfig.GatherTimeout is zero.
	DefaultGatherTimeout = 5 * time.Second
	// DefaultTelephoneEventPT is the RFC 4733 telephone-event payload type
	// Teamline offers to browsers, and the relay-side payload type when
	// WebRTCConfig.TelephoneEventPT is zero.
	DefaultTelephoneEventPT = 101

	pcmuPT = 0  // RFC 3551 static payload type of PCMU
	cnPT   = 13 // RFC 3389 comfort noise; browsers do not need it

	// pcmuFrame is one 20 ms PCMU packet's worth of RTP timestamp units.
	pcmuFrame = 160
)

// WebRTCConfig configures a WebRTC agent leg.
type WebRTCConfig struct {
	// GatewayIP is the address of the leg's plain-RTP socket, the "phone"
	// the relay talks to. It must be reachable from the relay's sockets.
	// Defaults to 127.0.0.1.
	GatewayIP netip.Addr
	// ICEAddresses, when not empty, are the only local addresses ICE
	// gathers host candidates on. Empty means every interface's address.
	ICEAddresses []netip.Addr
	// IncludeLoopback gathers loopback candidates too. Tests on a single
	// host need it; production does not.
	IncludeLoopback bool
	// PublicIP, when set, replaces the address of every host candidate
	// Teamline advertises (1:1 NAT, e.g. a cloud instance with a public
	// address mapped onto a private one).
	PublicIP netip.Addr
	// ICEPortMin and ICEPortMax bound the UDP ports ICE binds, inclusive.
	// Both zero means any port.
	ICEPortMin, ICEPortMax uint16
	// GatherTimeout bounds ICE gathering in Offer. Zero means
	// DefaultGatherTimeout.
	GatherTimeout time.Duration
	// DisconnectedTimeout and FailedTimeout are ICE's timeouts: without
	// traffic for DisconnectedTimeout the connection is disconnected, and
	// FailedTimeout later it has failed and the leg ends. Zero keeps pion's
	// defaults (5 s and 25 s).
	DisconnectedTimeout, FailedTimeout time.Duration
	// TelephoneEventPT is the payload type of RFC 4733 telephone-event on
	// the relay side, as negotiated with the caller. Browsers use
	// DefaultTelephoneEventPT; the leg maps between the two. Zero means
	// DefaultTelephoneEventPT.
	TelephoneEventPT uint8
	// ReceiverReports sends RTCP receiver reports to the browser. A browser
	// plays and sends PCMU without them; they fill its remote-inbound-rtp
	// statistics, and pion allocates twice per received packet for them.
	ReceiverReports bool
	// SenderReports sends RTCP sender reports to the browser. A browser
	// plays PCMU without them (they matter for lip sync, and an audio call
	// has nothing to sync with); they cost a lock and a clock read per
	// packet sent. ICE consent checks, not RTCP, tell the browser that
	// Teamline is still there.
	SenderReports bool
}

// Validate reports every problem with the configuration at once.
func (c WebRTCConfig) Validate() error {
	var errs []error
	if c.GatewayIP.IsValid() && c.GatewayIP.IsUnspecified() {
		errs = append(errs, fmt.Errorf("gateway ip %s is unspecified", c.GatewayIP))
	}
	for _, a := range c.ICEAddresses {
		if !a.IsValid() || a.IsUnspecified() {
			errs = append(errs, fmt.Errorf("ice address %q is not a specific address", a))
		}
	}
	if c.PublicIP.IsValid() && c.PublicIP.IsUnspecified() {
		errs = append(errs, fmt.Errorf("public ip %s is unspecified", c.PublicIP))
	}
	if c.ICEPortMin > c.ICEPortMax || (c.ICEPortMin == 0) != (c.ICEPortMax == 0) {
		errs = append(errs, fmt.Errorf("ice port range %d-%d: %w", c.ICEPortMin, c.ICEPortMax, errBadPortRange))
	}
	if c.GatherTimeout < 0 {
		errs = append(errs, fmt.Errorf("gather timeout %s is negative", c.GatherTimeout))
	}
	if c.DisconnectedTimeout < 0 || c.FailedTimeout < 0 {
		errs = append(errs, fmt.Errorf("ice timeouts %s/%s: negative", c.DisconnectedTimeout, c.FailedTimeout))
	}
	if pt := c.TelephoneEventPT; pt != 0 && (pt < 96 || pt > 127) {
		errs = append(errs, fmt.Errorf("telephone-event payload type %d is not dynamic (96-127)", pt))
	}
	return errors.Join(errs...)
}

func (c WebRTCConfig) gatewayIP() netip.Addr {
	if c.GatewayIP.IsValid() {
		return c.GatewayIP.Unmap()
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

func (c WebRTCConfig) telephoneEventPT() uint8 {
	if c.TelephoneEventPT != 0 {
		return c.TelephoneEventPT
	}
	return DefaultTelephoneEventPT
}

func (c WebRTCConfig) gatherTimeout() time.Duration {
	if c.GatherTimeout > 0 {
		return c.GatherTimeout
	}
	return DefaultGatherTimeout
}

// WebRTCStats counts what a WebRTC leg forwarded and dropped.
type WebRTCStats struct {
	ToBrowser   Flow // RTP from the relay written to the browser (SRTP)
	FromBrowser Flow // RTP from the browser sent to the relay

	DroppedSource   uint64 // relay-side packets from an address other than Attach's
	DroppedNotReady uint64 // relay-side packets before DTLS-SRTP was up
	DroppedCodec    uint64 // comfort noise, or a payload type other than PCMU and telephone-event
	DroppedInvalid  uint64 // not RTP version 2, or truncated
	DroppedNoDest   uint64 // from the browser before Attach
	DroppedHeld     uint64 // relay-side packets while the browser receives nothing (it holds the call)
	SendErrors      uint64 // a write towards the browser or the relay failed
}

// MarshalZerologObject writes the counters as fields of a log event.
func (st WebRTCStats) MarshalZerologObject(ev *zerolog.Event) {
	ev.Uint64("to_browser_packets", st.ToBrowser.Packets).Uint64("to_browser_bytes", st.ToBrowser.Bytes).
		Uint64("from_browser_packets", st.FromBrowser.Packets).Uint64("from_browser_bytes", st.FromBrowser.Bytes).
		Uint64("dropped_source", st.DroppedSource).Uint64("dropped_not_ready", st.DroppedNotReady).
		Uint64("dropped_codec", st.DroppedCodec).Uint64("dropped_invalid", st.DroppedInvalid).
		Uint64("dropped_no_dest", st.DroppedNoDest).Uint64("dropped_held", st.DroppedHeld).
		Uint64("send_errors", st.SendErrors)
}

// WebRTCLeg makes a browser's WebRTC peer (ICE, DTLS-SRTP, PCMU) look like
// a plain RTP phone to a Session: it owns a pion PeerConnection towards the
// browser and one UDP socket (RTPAddr) that stands for it on the relay's
// side B. A Session of the same process given that address exchanges
// packets with the leg in memory (local.go); the socket carries what
// reaches the address from elsewhere (a prompt played with PlayB, a relay
// in another process). Audio is decrypted and re-encrypted, never
// transcoded. The browser may renegotiate (hold, resume) with
// AnswerReoffer.
//
// The call layer, for an agent registered over WS/WSS:
//
//	leg, _ := media.NewWebRTCLeg(callCtx, cfg, log)
//	offer, _ := leg.Offer(ctx)            // SDP body of the INVITE to the browser
//	leg.SetAnswer(answer)                 // SDP of the browser's 200 OK
//	session.SetRemoteB(leg.RTPAddr())     // instead of the agent's SDP address
//	session.SetRemoteRTCPB(netip.AddrPort{}) // pion speaks RTCP with the browser itself
//	leg.Attach(session.LocalB())
//	<-leg.Done()                          // the browser went away: hang up
//	leg.Close()
//
// A WebRTCLeg is safe for concurrent use.
type WebRTCLeg struct {
	cfg    WebRTCConfig
	log    zerolog.Logger
	pc     *webrtc.PeerConnection
	track  *audioTrack
	sender *webrtc.RTPSender
	conn   *net.UDPConn
	addr   netip.AddrPort
	tePT   uint8 // telephone-event payload type on the relay side

	relay     atomic.Pointer[netip.AddrPort] // the relay's side B, set by Attach
	session   atomic.Pointer[Session]        // the Session joined in memory (local.go), nil if none
	connected atomic.Bool                    // DTLS-SRTP is up: packets may be written to the track
	muted     atomic.Bool                    // the browser receives nothing: it holds the call (recvonly or inactive answer)
	offerAt   atomic.Int64                   // UnixNano when Offer started, for the setup time

	// negotiate serialises the offer/answer exchanges on the
	// PeerConnection: the first offer and the browser's re-offers.
	negotiate sync.Mutex

	mu      sync.Mutex // guards the fields below
	offered bool
	ending  bool // no new goroutines may join wg
	err     error
	stopCtx func() bool

	wg   sync.WaitGroup // the leg's own goroutines
	done chan struct{}

	// fwdMu guards fwd, the path to the browser: the session's poll loop
	// and the gateway socket's reader (a prompt played to the agent) both
	// write to it.
	fwdMu sync.Mutex
	fwd   *forwarder

	toBrowserPackets, toBrowserBytes     atomic.Uint64
	fromBrowserPackets, fromBrowserBytes atomic.Uint64
	droppedSource, droppedNotReady       atomic.Uint64
	droppedCodec, droppedInvalid         atomic.Uint64
	droppedNoDest, sendErrors            atomic.Uint64
	droppedHeld                          atomic.Uint64
}

// NewWebRTCLeg creates the PeerConnection (PCMU and telephone-event only,
// one sendrecv audio track) and binds the leg's socket on cfg.GatewayIP.
// The leg ends, as Close does, when ctx is done: give it the call's
// context. log should already carry the call's fields.
func NewWebRTCLeg(ctx context.Context, cfg WebRTCConfig, log zerolog.Logger) (*WebRTCLeg, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webrtc config: %w", err)
	}
	api, err := newWebRTCAPI(cfg, log)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.gatewayIP(), 0)))
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("bind webrtc gateway socket: %w", err)
	}
	l := &WebRTCLeg{
		cfg:  cfg,
		log:  log,
		pc:   pc,
		conn: conn,
		addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		tePT: cfg.telephoneEventPT(),
		done: make(chan struct{}),
		fwd:  newForwarder(),
	}
	l.addr = netip.AddrPortFrom(l.addr.Addr().Unmap(), l.addr.Port())
	inner, err := webrtc.NewTrackLocalStaticRTP(pcmuCapability, "audio", "teamline")
	if err != nil {
		l.abort()
		return nil, fmt.Errorf("new audio track: %w", err)
	}
	l.track = &audioTrack{TrackLocalStaticRTP: inner}
	tr, err := pc.AddTransceiverFromTrack(l.track, webrtc.RTPTransceiverInit{
		Direction: webrtc.RTPTransceiverDirectionSendrecv,
	})
	if err != nil {
		l.abort()
		return nil, fmt.Errorf("add audio transceiver: %w", err)
	}
	l.sender = tr.Sender()
	pc.OnConnectionStateChange(l.onState)
	pc.OnTrack(l.onTrack)

	l.mu.Lock()
	l.wg.Add(2)
	go l.relayToBrowser()
	go l.drainRTCP()
	l.stopCtx = context.AfterFunc(ctx, func() { l.end(context.Cause(ctx)) })
	l.mu.Unlock()
	addLocalLeg(l)
	log.Debug().Stringer("gateway", l.addr).Msg("webrtc leg created")
	return l, nil
}

// abort releases what NewWebRTCLeg built before it failed.
func (l *WebRTCLeg) abort() {
	_ = l.pc.Close()
	_ = l.conn.Close()
}

// pcmuCapability is the one audio codec of a WebRTC leg. Channels stays 0:
// browsers match PCMU with and without it, and pion's fuzzy match needs the
// same value on both sides.
var pcmuCapability = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}

// newWebRTCAPI builds the pion API of a leg: a MediaEngine with PCMU and
// telephone-event only (anything else and a browser may pick Opus), RTCP
// reports, and the ICE settings of cfg.
func newWebRTCAPI(cfg WebRTCConfig, log zerolog.Logger) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: pcmuCapability, PayloadType: pcmuPT,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register pcmu: %w", err)
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-16"},
		PayloadType:        DefaultTelephoneEventPT,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register telephone-event: %w", err)
	}
	// No interceptor is needed for a PCMU call: no NACK (audio is not
	// retransmitted), no TWCC or REMB (a 64 kbit/s stream has nothing to
	// adapt), and RTCP reports are optional: the sender-report interceptor
	// takes a lock and reads the clock for every packet sent, the
	// receiver-report one allocates twice for every packet received (an
	// attribute map and a parsed header).
	reg := &interceptor.Registry{}
	if cfg.SenderReports {
		sender, err := report.NewSenderInterceptor()
		if err != nil {
			return nil, fmt.Errorf("rtcp sender reports: %w", err)
		}
		reg.Add(sender)
	}
	if cfg.ReceiverReports {
		receiver, err := report.NewReceiverInterceptor()
		if err != nil {
			return nil, fmt.Errorf("rtcp receiver reports: %w", err)
		}
		reg.Add(receiver)
	}

	se := webrtc.SettingEngine{LoggerFactory: pionLogFactory{log: log}}
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	// Chromium offers no loopback (and often no reachable host) candidate:
	// its checks arrive as peer-reflexive, and the default wait for them
	// adds about a second to every call setup.
	se.SetPrflxAcceptanceMinWait(0)
	// Host candidates go out in the SDP as they are; resolving a browser's
	// .local names is not needed since its checks arrive anyway.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	if len(cfg.ICEAddresses) > 0 {
		allowed := append([]netip.Addr(nil), cfg.ICEAddresses...)
		se.SetIPFilter(func(ip net.IP) bool {
			a, ok := netip.AddrFromSlice(ip)
			if !ok {
				return false
			}
			for _, b := range allowed {
				if a.Unmap() == b.Unmap() {
					return true
				}
			}
			return false
		})
	}
	if cfg.ICEPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(cfg.ICEPortMin, cfg.ICEPortMax); err != nil {
			return nil, fmt.Errorf("ice port range %d-%d: %w", cfg.ICEPortMin, cfg.ICEPortMax, err)
		}
	}
	if cfg.PublicIP.IsValid() {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        []string{cfg.PublicIP.Unmap().String()},
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, fmt.Errorf("public ip %s: %w", cfg.PublicIP, err)
		}
	}
	if cfg.DisconnectedTimeout > 0 || cfg.FailedTimeout > 0 {
		disc, failed := cfg.DisconnectedTimeout, cfg.FailedTimeout
		if disc == 0 {
			disc = 5 * time.Second
		}
		if failed == 0 {
			failed = 25 * time.Second
		}
		se.SetICETimeouts(disc, failed, 2*time.Second)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se),
		webrtc.WithInterceptorRegistry(reg)), nil
}

// RTPAddr returns the address of the leg's plain-RTP socket: the call layer
// passes it to Session.SetRemoteB as if it were the agent's SDP address. A
// Session of this process given it joins the leg in memory: packets go
// between them without the socket.
func (l *WebRTCLeg) RTPAddr() netip.AddrPort { return l.addr }

// Attach sets where the browser's audio goes when no Session of this
// process is joined to the leg, and which source the leg's socket takes
// packets from: the session's LocalB, or an address of the same port that
// is reachable from WebRTCConfig.GatewayIP (127.0.0.1 with the relay bound
// to 0.0.0.0). Only packets from this address are sent on to the browser.
// (A prompt that a Session plays to its side B, PlayB, still reaches the
// leg through the socket.)
func (l *WebRTCLeg) Attach(relayB netip.AddrPort) {
	a := netip.AddrPortFrom(relayB.Addr().Unmap(), relayB.Port())
	l.relay.Store(&a)
}

// joinSession makes s the session the browser's audio goes to and the only one
// whose packets are sent on to the browser; Session.SetRemoteB calls it.
func (l *WebRTCLeg) joinSession(s *Session) {
	if old := l.session.Swap(s); old != s {
		l.log.Debug().Stringer("relay_b", s.LocalB()).Msg("webrtc leg joined to a media session in memory")
	}
}

// fromRelay writes a packet that the session s relays to its side B to the
// browser. The session's poll loop calls it; it does not allocate.
func (l *WebRTCLeg) fromRelay(s *Session, pkt []byte) {
	switch {
	case l.session.Load() != s:
		l.droppedSource.Add(1) // a session the leg moved away from
	case !l.connected.Load():
		// Writing before DTLS-SRTP is up would block in pion.
		l.droppedNotReady.Add(1)
	case l.muted.Load():
		l.droppedHeld.Add(1)
	default:
		l.fwdMu.Lock()
		l.toBrowser(l.fwd, pkt)
		l.fwdMu.Unlock()
	}
}

// Offer creates the SDP offer for the browser, waits until ICE gathering is
// complete (SIP has no trickle ICE) and returns it with every candidate and
// a=end-of-candidates. It may be called once. It returns ErrGatherTimeout
// when gathering takes longer than WebRTCConfig.GatherTimeout.
func (l *WebRTCLeg) Offer(ctx context.Context) ([]byte, error) {
	if err := l.startNegotiation(); err != nil {
		return nil, err
	}
	l.negotiate.Lock()
	defer l.negotiate.Unlock()
	l.offerAt.Store(time.Now().UnixNano())
	offer, err := l.pc.CreateOffer(nil)
	if err != nil {
		return nil, fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(l.pc)
	if err := l.pc.SetLocalDescription(offer); err != nil {
		return nil, fmt.Errorf("set local offer: %w", err)
	}
	desc, err := l.gathered(ctx, gathered, "offer")
	if err != nil {
		return nil, err
	}
	l.log.Debug().Dur("gather", time.Since(time.Unix(0, l.offerAt.Load()))).Msg("webrtc offer ready")
	return []byte(desc.SDP), nil
}

// Answer answers a browser's first offer: a browser agent calling through
// Teamline (a colleague, before an attended transfer) instead of being
// called. Like Offer it waits for complete gathering, and it may be called
// once, on a leg that has not offered; the answer's direction mirrors the
// offer's, as AnswerReoffer's does. It returns ErrNoPCMU when the offer
// does not accept PCMU.
func (l *WebRTCLeg) Answer(ctx context.Context, offer []byte) ([]byte, error) {
	if err := l.startNegotiation(); err != nil {
		return nil, err
	}
	l.offerAt.Store(time.Now().UnixNano())
	return l.AnswerReoffer(ctx, offer)
}

// startNegotiation claims the leg's one first negotiation, an Offer or an
// Answer: an error if the leg is ending or has negotiated already.
func (l *WebRTCLeg) startNegotiation() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.ending:
		return ErrWebRTCClosed
	case l.offered:
		return errors.New("the leg has negotiated already")
	}
	l.offered = true
	return nil
}

// SetAnswer applies the browser's SDP answer. It returns ErrNoPCMU when the
// answer does not accept PCMU.
func (l *WebRTCLeg) SetAnswer(sdp []byte) error {
	select {
	case <-l.done:
		return ErrWebRTCClosed
	default:
	}
	l.negotiate.Lock()
	defer l.negotiate.Unlock()
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{
		Type: webrtc.SDPTypeAnswer, SDP: string(sdp),
	}); err != nil {
		return fmt.Errorf("set remote answer: %w", err)
	}
	if !l.acceptsPCMU() {
		return ErrNoPCMU
	}
	return nil
}

// AnswerReoffer answers an offer the browser sends on the established
// connection: a re-INVITE that holds the call (a=sendonly, or inactive),
// resumes it, or refreshes the session. The PeerConnection renegotiates on
// the same transport (ICE and DTLS go on, the DTLS role stays as it was
// negotiated), and the answer carries every candidate and
// a=end-of-candidates, as SIP has no trickle ICE. Its direction mirrors
// the offer's (AnswerDirection); while the browser holds the call
// (sendonly or inactive) the leg sends it nothing, and the browser's own
// audio still goes to the relay when it sends any.
//
// An offer that cannot be applied leaves the connection as it was and
// returns an error (the SIP layer answers 488). It returns ErrNoPCMU when
// the offer no longer accepts PCMU, ErrGatherTimeout when gathering after
// an ICE restart takes too long, and ErrWebRTCClosed once the leg ended.
func (l *WebRTCLeg) AnswerReoffer(ctx context.Context, offer []byte) ([]byte, error) {
	l.negotiate.Lock()
	defer l.negotiate.Unlock()
	select {
	case <-l.done:
		return nil, ErrWebRTCClosed
	default:
	}
	dir, err := sdpDirection(offer)
	if err != nil {
		return nil, fmt.Errorf("browser re-offer: %w", err)
	}
	want := AnswerDirection(dir)
	remote := offer
	if dir == DirectionInactive {
		// pion stops a transceiver for good when an offer makes it
		// inactive, and resuming could not bring the audio back. It is
		// given sendonly instead, which leaves the transceiver as it is;
		// the answer the browser gets says inactive all the same.
		if remote, err = withDirection(offer, DirectionSendOnly); err != nil {
			return nil, fmt.Errorf("browser re-offer: %w", err)
		}
	}
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(remote)}); err != nil {
		l.rollback()
		return nil, fmt.Errorf("set remote re-offer: %w", err)
	}
	answer, err := l.pc.CreateAnswer(nil)
	if err != nil {
		l.rollback()
		return nil, fmt.Errorf("create answer to re-offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(l.pc)
	if err := l.pc.SetLocalDescription(answer); err != nil {
		l.rollback()
		return nil, fmt.Errorf("set local answer to re-offer: %w", err)
	}
	// Gathering is complete already unless the offer restarted ICE.
	desc, err := l.gathered(ctx, gathered, "answer to re-offer")
	if err != nil {
		return nil, err
	}
	if !l.acceptsPCMU() {
		return nil, ErrNoPCMU
	}
	// pion answers with the transceiver's own direction (sendrecv), and
	// only takes the local answer exactly as it made it: the direction is
	// set in the copy the browser gets. pion's sending is the leg's
	// business anyway (muted).
	out, err := withDirection([]byte(desc.SDP), want)
	if err != nil {
		return nil, fmt.Errorf("answer to re-offer: %w", err)
	}
	l.muted.Store(want == DirectionRecvOnly || want == DirectionInactive)
	l.log.Info().Str("offer_direction", dir).Str("answer_direction", want).Msg("webrtc re-offer answered")
	return out, nil
}

// gathered waits, bounded by the gather timeout, until ICE gathering is
// complete, and returns the local description with every candidate; what
// names the SDP for errors.
func (l *WebRTCLeg) gathered(ctx context.Context, done <-chan struct{}, what string) (*webrtc.SessionDescription, error) {
	timer := time.NewTimer(l.cfg.gatherTimeout())
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		return nil, fmt.Errorf("%s after %s: %w", what, l.cfg.gatherTimeout(), ErrGatherTimeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for ice gathering: %w", context.Cause(ctx))
	case <-l.done:
		return nil, ErrWebRTCClosed
	}
	desc := l.pc.LocalDescription()
	if desc == nil {
		return nil, ErrWebRTCClosed
	}
	return desc, nil
}

// rollback returns the PeerConnection to the last stable offer/answer
// after a re-offer failed half way.
func (l *WebRTCLeg) rollback() {
	if l.pc.SignalingState() == webrtc.SignalingStateStable {
		return
	}
	if err := l.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}); err != nil {
		l.log.Debug().Err(err).Msg("roll back a failed re-offer")
	}
}

// acceptsPCMU reports whether the audio sender's negotiated codecs include
// PCMU.
func (l *WebRTCLeg) acceptsPCMU() bool {
	for _, c := range l.sender.GetParameters().Codecs {
		if strings.EqualFold(c.MimeType, webrtc.MimeTypePCMU) {
			return true
		}
	}
	return false
}

// Done returns a channel that is closed when the leg has ended: the ICE or
// DTLS connection failed or the browser closed it, the context given to
// NewWebRTCLeg ended, or Close was called. When it is closed the leg's
// goroutines have exited and its socket is closed.
func (l *WebRTCLeg) Done() <-chan struct{} { return l.done }

// Err returns why the leg ended: ErrWebRTCFailed, ErrWebRTCClosed (the
// browser closed the connection), the cause of NewWebRTCLeg's context, or
// nil after Close and while the leg runs.
func (l *WebRTCLeg) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close ends the leg: it closes the PeerConnection and the socket and waits
// for the leg's goroutines and pion's to exit. It is idempotent and safe to
// call concurrently.
func (l *WebRTCLeg) Close() error {
	l.end(nil)
	<-l.done
	return nil
}

// Stats returns the leg's counters so far, also after it ended.
func (l *WebRTCLeg) Stats() WebRTCStats {
	return WebRTCStats{
		ToBrowser:       Flow{Packets: l.toBrowserPackets.Load(), Bytes: l.toBrowserBytes.Load()},
		FromBrowser:     Flow{Packets: l.fromBrowserPackets.Load(), Bytes: l.fromBrowserBytes.Load()},
		DroppedSource:   l.droppedSource.Load(),
		DroppedNotReady: l.droppedNotReady.Load(),
		DroppedCodec:    l.droppedCodec.Load(),
		DroppedInvalid:  l.droppedInvalid.Load(),
		DroppedNoDest:   l.droppedNoDest.Load(),
		DroppedHeld:     l.droppedHeld.Load(),
		SendErrors:      l.sendErrors.Load(),
	}
}

// end stops the leg once; later calls return at once (Close then waits on
// done).
func (l *WebRTCLeg) end(reason error) {
	l.mu.Lock()
	if l.ending {
		l.mu.Unlock()
		return
	}
	l.ending = true
	l.err = reason
	stop := l.stopCtx
	l.mu.Unlock()
	if stop != nil {
		stop()
	}
	removeLocalLeg(l)
	l.connected.Store(false)

	// GracefulClose waits for pion's goroutines, and ends the remote
	// track's reads; closing the socket ends relayToBrowser.
	if err := l.pc.GracefulClose(); err != nil {
		l.log.Debug().Err(err).Msg("close peer connection")
	}
	_ = l.conn.Close()
	l.wg.Wait()

	ev := l.log.Info().Object("stats", l.Stats())
	if reason != nil {
		ev = ev.AnErr("reason", reason)
	}
	ev.Msg("webrtc leg ended")
	close(l.done)
}

// onState follows the PeerConnection's state: connected opens the path to
// the browser, failed or closed ends the leg. Disconnected may recover and
// is only logged; if it does not, ICE reports failed after FailedTimeout.
func (l *WebRTCLeg) onState(s webrtc.PeerConnectionState) {
	switch s {
	case webrtc.PeerConnectionStateConnected:
		l.connected.Store(true)
		ev := l.log.Info()
		if at := l.offerAt.Load(); at != 0 {
			ev = ev.Dur("setup", time.Since(time.Unix(0, at)))
		}
		ev.Msg("webrtc leg connected")
	case webrtc.PeerConnectionStateDisconnected:
		l.connected.Store(false)
		l.log.Warn().Msg("webrtc leg disconnected")
	case webrtc.PeerConnectionStateFailed:
		l.connected.Store(false)
		go l.end(ErrWebRTCFailed) // end waits for pion, which waits for this callback
	case webrtc.PeerConnectionStateClosed:
		l.connected.Store(false)
		go l.end(ErrWebRTCClosed)
	default:
	}
}

// join adds a goroutine to wg unless the leg is ending.
func (l *WebRTCLeg) join() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ending {
		return false
	}
	l.wg.Add(1)
	return true
}

// onTrack forwards the browser's audio to the relay. pion calls it on its
// own goroutine when the first packet of the browser's track arrives.
func (l *WebRTCLeg) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	if t.Kind() != webrtc.RTPCodecTypeAudio || !l.join() {
		return
	}
	defer l.wg.Done()
	l.log.Debug().Uint32("ssrc", uint32(t.SSRC())).Str("codec", t.Codec().MimeType).Msg("webrtc track from browser")
	buf := make([]byte, readBuf)
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			if n == 0 || errors.Is(err, io.EOF) {
				return // the receiver closed
			}
			l.droppedCodec.Add(1) // a payload type the MediaEngine does not know
			continue
		}
		l.fromBrowser(buf[:n])
	}
}

// fromBrowser sends one decrypted packet from the browser to the relay,
// mapping telephone-event to the relay side's payload type. It changes pkt
// in place and does not allocate.
func (l *WebRTCLeg) fromBrowser(pkt []byte) {
	if len(pkt) < rtpHeaderLen || pkt[0]>>6 != 2 {
		l.droppedInvalid.Add(1)
		return
	}
	switch pt := pkt[1] & 0x7f; pt {
	case pcmuPT:
	case DefaultTelephoneEventPT:
		pkt[1] = pkt[1]&0x80 | l.tePT
	default:
		l.droppedCodec.Add(1)
		return
	}
	if s := l.session.Load(); s != nil {
		s.fromLeg(l, pkt)
		l.fromBrowserPackets.Add(1)
		l.fromBrowserBytes.Add(uint64(len(pkt)))
		return
	}
	dst := l.relay.Load()
	if dst == nil {
		l.droppedNoDest.Add(1)
		return
	}
	if _, err := l.conn.WriteToUDPAddrPort(pkt, *dst); err != nil {
		l.sendErrors.Add(1)
		return
	}
	l.fromBrowserPackets.Add(1)
	l.fromBrowserBytes.Add(uint64(len(pkt)))
}

// drainRTCP reads the browser's RTCP for the audio sender, so that pion's
// interceptors see the receiver reports; the relay does not need them.
func (l *WebRTCLeg) drainRTCP() {
	defer l.wg.Done()
	buf := make([]byte, readBuf)
	for {
		if _, _, err := l.sender.Read(buf); err != nil {
			return
		}
	}
}

// relayToBrowser reads the relay's packets on the gateway socket and
// writes them to the browser until the socket is closed.
func (l *WebRTCLeg) relayToBrowser() {
	defer l.wg.Done()
	buf := make([]byte, readBuf)
	for {
		n, src, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			l.sendErrors.Add(1)
			continue
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if dst := l.relay.Load(); dst == nil || *dst != src {
			l.droppedSource.Add(1)
			continue
		}
		if !l.connected.Load() {
			// Writing before DTLS-SRTP is up would block in pion.
			l.droppedNotReady.Add(1)
			continue
		}
		if l.muted.Load() {
			l.droppedHeld.Add(1)
			continue
		}
		l.fwdMu.Lock()
		l.toBrowser(l.fwd, buf[:n])
		l.fwdMu.Unlock()
	}
}

// forwarder is the per-leg state of the path to the browser, used by one
// goroutine only.
type forwarder struct {
	pkt rtp.Packet
	seq sequencer
}

func newForwarder() *forwarder {
	f := &forwarder{}
	f.pkt.Header = *newHeader()
	return f
}

// toBrowser writes one relay packet to the browser: PCMU through the
// TrackLocalStaticRTP, telephone-event with the browser's payload type,
// comfort noise and other codecs dropped. Sequence numbers and timestamps
// continue across a change of the source's SSRC (a prompt, a re-INVITE).
func (l *WebRTCLeg) toBrowser(f *forwarder, b []byte) {
	if len(b) >= readBuf || !validRTP(&f.pkt.Header, b) {
		l.droppedInvalid.Add(1)
		return
	}
	// validRTP parsed the header and checked the padding; the payload is
	// what lies between them. Padding is not sent on.
	end := len(b)
	if f.pkt.Padding {
		end -= int(b[end-1])
		f.pkt.Padding = false
	}
	f.pkt.Payload = b[headerLen(b):end]
	var err error
	switch f.pkt.PayloadType {
	case pcmuPT:
		f.seq.apply(&f.pkt.Header)
		err = l.track.writeAudio(&f.pkt)
	case l.tePT:
		f.seq.apply(&f.pkt.Header)
		err = l.track.writeEvent(&f.pkt)
	default: // comfort noise (13), PCMA, anything the browser did not accept
		l.droppedCodec.Add(1)
		return
	}
	if err != nil {
		l.sendErrors.Add(1)
		return
	}
	l.toBrowserPackets.Add(1)
	l.toBrowserBytes.Add(uint64(len(b)))
}

// headerLen is the length of the RTP header at the start of b, which
// validRTP has checked: the fixed part, the CSRCs and the extension as the
// packet has them.
func headerLen(b []byte) int {
	n := rtpHeaderLen + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:]))
	}
	return n
}

// sequencer keeps the browser's view of the stream continuous: the relay
// side may change SSRC (a prompt played by the relay, a new trunk leg),
// which the browser would see as a jump of sequence number and timestamp
// on one SSRC.
type sequencer struct {
	started bool
	ssrc    uint32
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time
}

func (s *sequencer) apply(h *rtp.Header) {
	now := time.Now()
	if !s.started || h.SSRC != s.ssrc {
		if s.started {
			// Continue one packet later, or as much later as time passed.
			gap := uint32(now.Sub(s.lastAt) / (time.Second / 8000))
			gap = max(gap, pcmuFrame)
			s.seqOff = s.lastSeq + 1 - h.SequenceNumber
			s.tsOff = s.lastTS + gap - h.Timestamp
			h.Marker = true
		}
		s.started, s.ssrc = true, h.SSRC
	}
	h.SequenceNumber += s.seqOff
	h.Timestamp += s.tsOff
	s.lastSeq, s.lastTS, s.lastAt = h.SequenceNumber, h.Timestamp, now
}

// audioTrack is the leg's TrackLocalStaticRTP, which also remembers what
// pion bound it to. TrackLocalStaticRTP rewrites every packet's payload
// type to the one codec it was made for (PCMU), so RFC 4733 events are
// written to the same stream (same SSRC) with the negotiated
// telephone-event payload type beside it.
type audioTrack struct {
	*webrtc.TrackLocalStaticRTP
	binding atomic.Pointer[trackBinding]
}

// trackBinding is what the one negotiated sender of an audioTrack needs to
// send PCMU and telephone-event.
type trackBinding struct {
	id     string
	ssrc   uint32
	pt     uint8 // PCMU's payload type
	tePT   uint8
	hasTE  bool
	stream webrtc.TrackLocalWriter
}

// Bind is called by pion when the answer has been applied.
func (t *audioTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	codec, err := t.TrackLocalStaticRTP.Bind(ctx)
	if err != nil {
		return codec, fmt.Errorf("bind pcmu track: %w", err)
	}
	b := &trackBinding{id: ctx.ID(), ssrc: uint32(ctx.SSRC()), pt: uint8(codec.PayloadType), stream: ctx.WriteStream()}
	for _, c := range ctx.CodecParameters() {
		if strings.EqualFold(c.MimeType, "audio/telephone-event") && c.ClockRate == 8000 {
			b.tePT, b.hasTE = uint8(c.PayloadType), true
			break
		}
	}
	t.binding.Store(b)
	return codec, nil
}

// Unbind is called by pion when the sender stops.
func (t *audioTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	if b := t.binding.Load(); b != nil && b.id == ctx.ID() {
		t.binding.Store(nil)
	}
	if err := t.TrackLocalStaticRTP.Unbind(ctx); err != nil {
		return fmt.Errorf("unbind pcmu track: %w", err)
	}
	return nil
}

// writeAudio writes a PCMU packet to the bound stream, as the embedded
// TrackLocalStaticRTP.WriteRTP would (the binding's SSRC and payload type)
// without its lock, loop over bindings and copy of the header: an audio
// track has one binding. Before it is bound the packet is dropped.
func (t *audioTrack) writeAudio(p *rtp.Packet) error {
	b := t.binding.Load()
	if b == nil {
		return nil
	}
	p.SSRC, p.PayloadType = b.ssrc, b.pt
	if _, err := b.stream.WriteRTP(&p.Header, p.Payload); err != nil {
		return fmt.Errorf("write pcmu: %w", err)
	}
	return nil
}

// writeEvent writes an RFC 4733 packet with the browser's telephone-event
// payload type. It drops the packet when the browser did not accept
// telephone-event.
func (t *audioTrack) writeEvent(p *rtp.Packet) error {
	b := t.binding.Load()
	if b == nil || !b.hasTE {
		return nil
	}
	p.SSRC, p.PayloadType = b.ssrc, b.tePT
	if _, err := b.stream.WriteRTP(&p.Header, p.Payload); err != nil {
		return fmt.Errorf("write telephone-event: %w", err)
	}
	return nil
}

// pionLogFactory sends pion's log to the leg's zerolog logger. pion's debug
// and trace lines are zerolog trace, its info is debug.
type pionLogFactory struct{ log zerolog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f pionLogFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With().Str("pion", scope).Logger()}
}

// pionLogger is one pion scope's logger.
type pionLogger struct{ log zerolog.Logger }

func (p pionLogger) Trace(msg string)                  { p.log.Trace().Msg(msg) }
func (p pionLogger) Tracef(format string, args ...any) { p.log.Trace().Msgf(format, args...) }
func (p pionLogger) Debug(msg string)                  { p.log.Trace().Msg(msg) }
func (p pionLogger) Debugf(format string, args ...any) { p.log.Trace().Msgf(format, args...) }
func (p pionLogger) Info(msg string)                   { p.log.Debug().Msg(msg) }
func (p pionLogger) Infof(format string, args ...any)  { p.log.Debug().Msgf(format, args...) }
func (p pionLogger) Warn(msg string)                   { p.log.Warn().Msg(msg) }
func (p pionLogger) Warnf(format string, args ...any)  { p.log.Warn().Msgf(format, args...) }
func (p pionLogger) Error(msg string)                  { p.log.Error().Msg(msg) }
func (p pionLogger) Errorf(format string, args ...any) { p.log.Error().Msgf(format, args...) }

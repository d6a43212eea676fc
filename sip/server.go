package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	gosip "github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/teamline/teamline/internal/logging"
	"github.com/teamline/teamline/media"
	"github.com/teamline/teamline/roster"
	"github.com/teamline/teamline/router"
	"github.com/teamline/teamline/store"
)

// Defaults for Options fields left zero.
const (
	DefaultRingTimeout     = 2 * time.Minute
	DefaultMaxCallDuration = 4 * time.Hour
	// udpReadBuffer is the UDP socket receive buffer: large enough that a
	// burst of calls is queued in the kernel instead of dropped.
	udpReadBuffer = 4 << 20
	// udpMTU is the largest SIP message Teamline sends over UDP. SDP with
	// many codecs (and later WebRTC) does not fit the 1300 bytes of sipgo's
	// default; loopback and most trunks carry up to 64 KiB fine.
	udpMTU = 8000
)

// Trunk is a carrier connection allowed to send calls in.
type Trunk struct {
	// Name identifies the trunk in logs and call records.
	Name string
	// Networks are the source networks the trunk's INVITEs come from.
	Networks []netip.Prefix
	// Outbound is the host:port Teamline sends its own calls (callbacks) to.
	Outbound string
}

// Options configures the SIP edge.
type Options struct {
	// UDPAddr and TCPAddr are the listen addresses ("0.0.0.0:5060"); empty
	// disables that transport.
	UDPAddr, TCPAddr string
	// WSAddr and WSSAddr are the listen addresses of SIP over WebSocket
	// (RFC 7118) for browser agents; empty disables them. WSS needs TLS.
	WSAddr, WSSAddr string
	// TLS is the server certificate configuration for WSS.
	TLS *tls.Config
	// WSOrigins are the Origins a WebSocket upgrade may come from ("*"
	// allows any); an upgrade from elsewhere gets 403.
	WSOrigins []string
	// WebRTC configures the media legs of browser agents (ICE addresses,
	// public IP, port range).
	WebRTC media.WebRTCConfig
	// Realm is the SIP domain, also the digest realm agents authenticate in.
	Realm string
	// AdvertiseHost is the host Teamline puts into Via and Contact headers.
	AdvertiseHost string
	// UserAgent is sent in User-Agent and Server headers.
	UserAgent string
	// DigestAlgorithms are offered to agents in this order (DigestMD5,
	// DigestSHA256); empty means MD5 only.
	DigestAlgorithms []string
	// Trunks are the only sources allowed to send calls in.
	Trunks []Trunk
	// DefaultCountry is the ISO 3166 region used to read national numbers.
	DefaultCountry string
	// RingTimeout caps how long a caller waits while the plan's steps ring
	// agents; each step rings for its own time within it.
	RingTimeout time.Duration
	// MaxCallDuration ends any call that lasts longer.
	MaxCallDuration time.Duration
	// SourceRate and SourceBurst limit the requests (REGISTER, INVITE,
	// OPTIONS, others) one source address outside the trunks may send per
	// second; zero means DefaultSourceRate and DefaultSourceBurst.
	SourceRate  float64
	SourceBurst int
	// CallbackCallerID is the caller ID (user part) customers see when
	// Teamline calls them back: the hotline's number.
	CallbackCallerID string
	// NoAnswerLimit is how many calls in a row an agent may let ring out
	// before going away (for the decision trace; presence enforces it).
	NoAnswerLimit int
	// HistoryURL returns the link to the call's customer view sent to the
	// agent rung in Call-Info (signed for that call and agent, so a
	// softphone opens it without a login); nil sends none.
	HistoryURL func(callID, agentID, customerID, number string) string
}

// CallRecorder receives the call record as the call progresses. It must not
// block: the store's CallLog queues writes so a database outage never holds
// up a call.
type CallRecorder interface {
	Started(store.CallStart)
	Traced(id string, trace []string)
	Transferred(store.Transfer)
	Answered(id, agentID string, at time.Time)
	Ended(id string, outcome store.Outcome, hangupBy store.HangupBy, reason string, at time.Time)
}

// Deps are the components the SIP edge works with.
type Deps struct {
	// Roster returns the current roster snapshot.
	Roster func() *roster.Snapshot
	// Presence tracks agents' states: who may be rung.
	Presence *roster.Presence
	// Router returns the current router (rebuilt with the roster).
	Router func() *router.Router
	// Affinity remembers each customer's last agent; may be nil.
	Affinity *roster.Affinity
	// Callbacks books callbacks when nobody can take a call; nil turns the
	// callback fallback into a 480.
	Callbacks Callbacks
	// Announcer composes what the caller hears; nil answers in silence.
	Announcer Announcer
	// Media allocates relay sessions.
	Media *media.Manager
	// Calls records calls.
	Calls CallRecorder
}

// Server is Teamline's SIP edge: registrar for agents and B2BUA for hotline
// calls.
type Server struct {
	opts Options
	deps Deps
	log  zerolog.Logger

	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	client    *sipgo.Client
	registrar *Registrar

	loads       teamLoads
	view        router.View
	limiter     *sourceLimiter
	noCallbacks noCallbacks
	dialogs     dialogs
	live        callIndex // calls in progress by record id
	consults    consults
	calls       sync.WaitGroup
	active      atomic.Int64
	draining    atomic.Bool

	ready   chan struct{}
	mu      sync.Mutex
	udpAddr netip.AddrPort
	tcpAddr netip.AddrPort
	wsAddr  netip.AddrPort
	wssAddr netip.AddrPort
	baseCtx context.Context
	// requests bounds the requests calls send on their own (BYE, CANCEL):
	// Run cancels it when calls outlast the shutdown grace, so that none
	// waits out 64*T1 for a peer that is gone (requestCtx).
	requests  context.Context
	closeOnce sync.Once
}

// setMTU raises sipgo's process-wide UDP size limit once, before any
// transport runs (the variable is read unsynchronised by every UDP write).
// sipgo's process-wide default logger is the binary's business
// (SetLibraryLogger), not one server's.
var setMTU sync.Once

// New builds a Server; Run starts it.
func New(opts Options, deps Deps, log zerolog.Logger) (*Server, error) {
	slogger := logging.Slog(log.With().Str("component", "sipgo").Logger())
	setMTU.Do(func() { gosip.UDPMTUSize = udpMTU })
	if opts.RingTimeout <= 0 {
		opts.RingTimeout = DefaultRingTimeout
	}
	if opts.MaxCallDuration <= 0 {
		opts.MaxCallDuration = DefaultMaxCallDuration
	}
	if opts.CallbackCallerID == "" {
		opts.CallbackCallerID = "teamline"
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "Teamline"
	}
	if deps.Roster == nil || deps.Presence == nil || deps.Media == nil || deps.Calls == nil || deps.Router == nil {
		return nil, errors.New("sip server: roster, presence, router, media and call recorder are required")
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(opts.UserAgent),
		sipgo.WithUserAgentHostname(opts.AdvertiseHost),
		sipgo.WithUserAgentTransportLayerOptions(gosip.WithTransportLayerLogger(slogger)),
		sipgo.WithUserAgentTransactionLayerOptions(gosip.WithTransactionLayerLogger(slogger)),
	)
	if err != nil {
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slogger))
	if err != nil {
		return nil, fmt.Errorf("sip server: %w", err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientLogger(slogger), sipgo.WithClientHostname(opts.AdvertiseHost))
	if err != nil {
		return nil, fmt.Errorf("sip client: %w", err)
	}
	s := &Server{
		opts:   opts,
		deps:   deps,
		log:    log,
		ua:     ua,
		srv:    srv,
		client: client,
		ready:  make(chan struct{}),
	}
	s.dialogs.init()
	s.loads.m = make(map[string]*router.Load)
	s.view = router.Live{Agents: deps.Presence, Loads: s.loads.get}
	if len(opts.DigestAlgorithms) == 0 {
		opts.DigestAlgorithms = []string{DigestMD5}
	}
	s.registrar = NewRegistrar(opts.Realm, rosterCredentials{deps.Roster}, log.With().Str("component", "registrar").Logger(),
		WithRegistrarDigestOptions(WithDigestAlgorithms(opts.DigestAlgorithms...)))
	rps, burst := opts.SourceRate, opts.SourceBurst
	if rps <= 0 {
		rps, burst = DefaultSourceRate, DefaultSourceBurst
	}
	s.limiter = newSourceLimiter(rps, max(burst, 1), s.isTrunk, log.With().Str("component", "flood").Logger())
	// In-dialog requests (ACK, BYE, CANCEL) are not limited: they end calls.
	srv.OnRegister(s.limited(s.registrar.HandleRegister))
	srv.OnInvite(s.limited(s.handleInvite))
	srv.OnAck(s.handleAck)
	srv.OnBye(s.handleBye)
	srv.OnRefer(s.limited(s.handleRefer))
	srv.OnCancel(s.handleStrayCancel)
	srv.OnOptions(s.limited(s.handleOptions))
	srv.OnNoRoute(s.limited(s.handleNoRoute))
	return s, nil
}

// SetLibraryLogger sends the log lines sipgo writes outside any server
// (connection bookkeeping) to log. Call it once, from main.
func SetLibraryLogger(log zerolog.Logger) {
	gosip.SetDefaultLogger(logging.Slog(log.With().Str("component", "sipgo").Logger()))
}

// Registrar returns the agent registrar.
func (s *Server) Registrar() *Registrar { return s.registrar }

// Ready is closed once the listeners are bound.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// UDPAddr is the bound UDP address (valid after Ready).
func (s *Server) UDPAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr
}

// TCPAddr is the bound TCP address (valid after Ready).
func (s *Server) TCPAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tcpAddr
}

// Drain makes the server refuse new calls with 503 (RFC 3261 §21.5.4) while
// calls in progress go on; registrations are still served.
func (s *Server) Drain() { s.draining.Store(true) }

// WSAddr is the bound WebSocket address (valid after Ready).
func (s *Server) WSAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wsAddr
}

// WSSAddr is the bound secure WebSocket address (valid after Ready).
func (s *Server) WSSAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wssAddr
}

// TeamLoad returns a team's live load: callers ringing or waiting, storm
// overflow calls taken, and its storm mode.
func (s *Server) TeamLoad(teamID string) router.Load { return s.loads.get(teamID) }

// ActiveCalls is the number of hotline calls in progress.
func (s *Server) ActiveCalls() int { return int(s.active.Load()) }

// Run binds the listeners and serves until ctx is done. Calls in progress
// when ctx ends are hung up (BYE to both sides) before Run returns.
func (s *Server) Run(ctx context.Context) error {
	callsCtx, stopCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCalls()
	s.baseCtx = callsCtx
	requests, abandonRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer abandonRequests()
	s.requests = requests

	errc := make(chan error, 4)
	var closers []func() error
	if s.opts.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", s.opts.UDPAddr)
		if err != nil {
			return fmt.Errorf("listen sip udp %s: %w", s.opts.UDPAddr, err)
		}
		if uc, ok := pc.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(udpReadBuffer)
		}
		closers = append(closers, pc.Close)
		s.mu.Lock()
		s.udpAddr = pc.LocalAddr().(*net.UDPAddr).AddrPort()
		s.mu.Unlock()
		go func() { errc <- s.srv.ServeUDP(pc) }()
	}
	closeAll := func() {
		for _, c := range closers {
			_ = c()
		}
	}
	// stream binds a stream transport, wraps its listener and serves it.
	stream := func(name, addr string, bound *netip.AddrPort, wrap func(net.Listener) net.Listener, serve func(net.Listener) error) error {
		if addr == "" {
			return nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen sip %s %s: %w", name, addr, err)
		}
		wl := wrap(l)
		closers = append(closers, wl.Close)
		s.mu.Lock()
		*bound = l.Addr().(*net.TCPAddr).AddrPort()
		s.mu.Unlock()
		go func() { errc <- serve(wl) }()
		return nil
	}
	dropClosed := func(transport, remote string) { s.registrar.DropSource(transport, remote) }
	wsLog := s.log.With().Str("component", "websocket").Logger()
	asIs := func(l net.Listener) net.Listener { return l }
	ws := func(l net.Listener) net.Listener {
		return newWSListener(l, "ws", s.opts.WSOrigins, dropClosed, wsLog)
	}
	wss := func(l net.Listener) net.Listener {
		return newWSListener(tls.NewListener(l, s.opts.TLS), "wss", s.opts.WSOrigins, dropClosed, wsLog)
	}
	if s.opts.WSSAddr != "" && s.opts.TLS == nil {
		closeAll()
		return errors.New("sip wss: no TLS certificate configured")
	}
	if err := stream("tcp", s.opts.TCPAddr, &s.tcpAddr, asIs, s.srv.ServeTCP); err != nil {
		return err
	}
	if err := stream("ws", s.opts.WSAddr, &s.wsAddr, ws, s.srv.ServeWS); err != nil {
		return err
	}
	if err := stream("wss", s.opts.WSSAddr, &s.wssAddr, wss, s.srv.ServeWSS); err != nil {
		return err
	}
	regCtx, stopReg := context.WithCancel(ctx)
	defer stopReg()
	go s.registrar.Run(regCtx)

	s.log.Info().Str("udp", s.UDPAddr().String()).Str("tcp", s.TCPAddr().String()).
		Str("ws", s.WSAddr().String()).Str("wss", s.WSSAddr().String()).
		Str("realm", s.opts.Realm).Msg("SIP listening")
	close(s.ready)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			runErr = fmt.Errorf("sip serve: %w", err)
		}
	}
	// Hang up what is in progress, then close the transports. A call whose
	// BYE gets no answer in the grace gives up on it, so that no call goes
	// on after Run returns.
	stopCalls()
	if !s.callsEnded(shutdownGrace) {
		s.log.Warn().Int("calls", s.ActiveCalls()).Msg("calls still ending at shutdown: abandoning their requests")
		abandonRequests()
		if !s.callsEnded(shutdownGrace) {
			s.log.Error().Int("calls", s.ActiveCalls()).Msg("calls did not end at shutdown")
		}
	}
	for _, c := range closers {
		_ = c()
	}
	s.closeOnce.Do(func() { _ = s.ua.Close() })
	return runErr
}

// shutdownGrace is how long Run waits for calls to end, once after hanging
// them up and once more after abandoning their requests.
const shutdownGrace = 5 * time.Second

// callsEnded waits, at most within, until no call is in progress.
func (s *Server) callsEnded(within time.Duration) bool {
	done := make(chan struct{})
	go func() { s.calls.Wait(); close(done) }()
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// requestCtx bounds a request a call sends on its own (BYE, CANCEL): 64*T1,
// or until Run abandons calls' requests at shutdown.
func (s *Server) requestCtx() (context.Context, context.CancelFunc) {
	parent := s.requests
	if parent == nil {
		parent = context.Background() // not running: tests of single legs
	}
	return context.WithTimeout(parent, 64*gosip.T1)
}

// isTrunk reports whether addr is inside a trunk's networks.
func (s *Server) isTrunk(addr netip.Addr) bool {
	for _, t := range s.opts.Trunks {
		for _, n := range t.Networks {
			if n.Contains(addr) {
				return true
			}
		}
	}
	return false
}

// trunkFor returns the trunk whose networks contain the request's source.
func (s *Server) trunkFor(req *gosip.Request) (Trunk, bool) {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return Trunk{}, false
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return Trunk{}, false
	}
	addr = addr.Unmap()
	for _, t := range s.opts.Trunks {
		for _, n := range t.Networks {
			if n.Contains(addr) {
				return t, true
			}
		}
	}
	return Trunk{}, false
}

func (s *Server) respond(req *gosip.Request, tx gosip.ServerTransaction, code int) {
	res := gosip.NewResponseFromRequest(req, code, statusText(code), nil)
	res.AppendHeader(gosip.NewHeader("Server", s.opts.UserAgent))
	if err := tx.Respond(res); err != nil {
		s.log.Debug().Err(err).Int("status", code).Msg("respond failed")
	}
}

func (s *Server) handleOptions(req *gosip.Request, tx gosip.ServerTransaction) {
	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(gosip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"))
	res.AppendHeader(gosip.NewHeader("Accept", "application/sdp"))
	_ = tx.Respond(res)
}

func (s *Server) handleNoRoute(req *gosip.Request, tx gosip.ServerTransaction) {
	res := gosip.NewResponseFromRequest(req, 405, statusText(405), nil)
	res.AppendHeader(gosip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER"))
	_ = tx.Respond(res)
}

// handleStrayCancel answers a CANCEL that matched no INVITE transaction
// (RFC 3261 §9.2: 481).
func (s *Server) handleStrayCancel(req *gosip.Request, tx gosip.ServerTransaction) {
	s.respond(req, tx, 481)
}

// handleAck routes an ACK for a 2xx (a transaction of its own) to its call.
func (s *Server) handleAck(req *gosip.Request, _ gosip.ServerTransaction) {
	if d, ok := s.dialogs.get(req.CallID().Value()); ok {
		d.ack(req)
	}
}

// handleBye routes a BYE to the call it ends, from either leg.
func (s *Server) handleBye(req *gosip.Request, tx gosip.ServerTransaction) {
	d, ok := s.dialogs.get(req.CallID().Value())
	if !ok {
		s.respond(req, tx, 481)
		return
	}
	s.respond(req, tx, 200)
	d.byeReceived(req)
}

// rosterCredentials lets the registrar look agents up in the live roster.
type rosterCredentials struct{ snapshot func() *roster.Snapshot }

// Credential implements CredentialSource.
func (c rosterCredentials) Credential(username string) (Credential, bool) {
	a, ok := c.snapshot().AgentByUsername(username)
	if !ok {
		return Credential{}, false
	}
	return Credential{AgentID: a.ID, Username: a.Username, Password: a.Password}, true
}

// dialogs maps Call-IDs (the caller's and each agent leg's) to their call.
type dialogs struct {
	mu sync.RWMutex
	m  map[string]dialogEnd
}

// dialogEnd is what in-dialog requests reach: one side of one call.
type dialogEnd interface {
	ack(req *gosip.Request)
	byeReceived(req *gosip.Request)
	// currentSDP is the SDP Teamline last sent on this side, repeated in
	// answer to a re-INVITE without an offer and to the caller's
	// re-INVITEs (an agent's leg answers an offer itself: answerReoffer).
	currentSDP() []byte
}

// reofferAnswerer is a side of a call that answers the offer of a
// re-INVITE itself (an agent's leg) rather than repeating currentSDP.
type reofferAnswerer interface {
	answerReoffer(ctx context.Context, offer []byte) ([]byte, error)
}

func (d *dialogs) init() { d.m = make(map[string]dialogEnd) }

func (d *dialogs) put(callID string, e dialogEnd) {
	d.mu.Lock()
	d.m[callID] = e
	d.mu.Unlock()
}

func (d *dialogs) get(callID string) (dialogEnd, bool) {
	d.mu.RLock()
	e, ok := d.m[callID]
	d.mu.RUnlock()
	return e, ok
}

func (d *dialogs) remove(callID string) {
	d.mu.Lock()
	delete(d.m, callID)
	d.mu.Unlock()
}

// contactHeader is Teamline's Contact for the given transport.
func (s *Server) contactHeader(transport string) *gosip.ContactHeader {
	port := s.UDPAddr().Port()
	if transport == "TCP" || transport == "tcp" {
		port = s.TCPAddr().Port()
	}
	uri := gosip.Uri{Scheme: "sip", User: "teamline", Host: s.opts.AdvertiseHost, Port: int(port)}
	if transport == "TCP" || transport == "tcp" {
		uri.UriParams = gosip.NewParams()
		uri.UriParams.Add("transport", "tcp")
	}
	return &gosip.ContactHeader{Address: uri}
}

// teamLoads counts, per team, the callers ringing or waiting and the storm
// overflow calls taken, for the router's storm rules.
type teamLoads struct {
	mu sync.Mutex
	m  map[string]*router.Load
}

func (l *teamLoads) get(teamID string) router.Load {
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.m[teamID]; ok {
		return *v
	}
	return router.Load{}
}

func (l *teamLoads) entry(teamID string) *router.Load {
	v, ok := l.m[teamID]
	if !ok {
		v = &router.Load{}
		l.m[teamID] = v
	}
	return v
}

func (l *teamLoads) add(teamID string, ringing, waiting, overflow int) {
	l.mu.Lock()
	v := l.entry(teamID)
	v.Ringing += ringing
	v.Waiting += waiting
	v.Overflow += overflow
	l.mu.Unlock()
}

func (l *teamLoads) setStorm(teamID string, st router.StormState) {
	l.mu.Lock()
	l.entry(teamID).Storm = st
	l.mu.Unlock()
}

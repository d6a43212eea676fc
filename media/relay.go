package media

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/rs/zerolog"
)

// ErrSilence is the Err of a Session that ended because no valid RTP packet
// arrived from either side for Config.SilenceTimeout.
var ErrSilence = errors.New("no rtp received within the silence timeout")

// ErrNoPorts is returned by Manager.NewSession when every RTP/RTCP port pair
// in the configured range is in use, by Teamline or by another process.
var ErrNoPorts = errors.New("no free rtp port pair in range")

// errBadPortRange reports a Config whose port range holds no usable pair.
var errBadPortRange = errors.New("bad rtp port range")

// Config configures the media relay.
type Config struct {
	// BindIP is the address the RTP and RTCP sockets bind to, e.g. 0.0.0.0
	// or 127.0.0.1. An IPv6 address makes the sockets IPv6-only.
	BindIP netip.Addr
	// AdvertiseIP is the address written into SDP c= lines and returned by
	// LocalA and LocalB. When unset it defaults to BindIP, which must then
	// be a specific address (not 0.0.0.0 or ::).
	AdvertiseIP netip.Addr
	// PortMin and PortMax bound the RTP ports, inclusive. RTP ports are even
	// and RTCP uses RTP+1, so each call needs two pairs (four ports).
	PortMin, PortMax int
	// SilenceTimeout ends a session when no valid RTP packet arrives from
	// either side for this long. Zero disables the check.
	SilenceTimeout time.Duration
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if !c.BindIP.IsValid() {
		errs = append(errs, errors.New("bind ip is not set"))
	}
	adv := c.advertise()
	switch {
	case !adv.IsValid():
		errs = append(errs, errors.New("advertise ip is not set and bind ip is not a specific address"))
	case adv.IsUnspecified():
		errs = append(errs, fmt.Errorf("advertise ip %s is unspecified", adv))
	}
	if c.BindIP.IsValid() && adv.IsValid() && c.BindIP.Unmap().Is4() != adv.Is4() {
		errs = append(errs, fmt.Errorf("bind ip %s and advertise ip %s differ in address family", c.BindIP, adv))
	}
	if c.PortMin < 1 || c.PortMax > 65535 || c.PortMin > c.PortMax {
		errs = append(errs, fmt.Errorf("port range %d-%d: %w", c.PortMin, c.PortMax, errBadPortRange))
	} else if c.PortMax-(c.PortMin+c.PortMin%2) < 1 {
		errs = append(errs, fmt.Errorf("port range %d-%d holds no even rtp port with its rtcp port: %w",
			c.PortMin, c.PortMax, errBadPortRange))
	}
	if c.SilenceTimeout < 0 {
		errs = append(errs, fmt.Errorf("silence timeout %s is negative", c.SilenceTimeout))
	}
	return errors.Join(errs...)
}

// advertise returns AdvertiseIP, or BindIP when AdvertiseIP is unset and
// BindIP is a specific address.
func (c Config) advertise() netip.Addr {
	if c.AdvertiseIP.IsValid() {
		return c.AdvertiseIP.Unmap()
	}
	if c.BindIP.IsValid() && !c.BindIP.IsUnspecified() {
		return c.BindIP.Unmap()
	}
	return netip.Addr{}
}

// Manager allocates relay sessions from one port range. It is safe for
// concurrent use.
type Manager struct {
	cfg    Config
	adv    netip.Addr
	log    zerolog.Logger
	ports  *portPool
	poll   *poller
	active atomic.Int64
}

// NewManager checks cfg and returns a Manager. It binds nothing until
// NewSession is called.
func NewManager(cfg Config, log zerolog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("media config: %w", err)
	}
	pool, err := newPortPool(cfg.BindIP, cfg.PortMin, cfg.PortMax)
	if err != nil {
		return nil, fmt.Errorf("media config: %w", err)
	}
	return &Manager{cfg: cfg, adv: cfg.advertise(), log: log, ports: pool, poll: newPoller()}, nil
}

// Active returns the number of sessions allocated and not yet ended.
func (m *Manager) Active() int {
	return int(m.active.Load())
}

// NewSession binds the caller-side (A) and agent-side (B) sockets of a new
// call, an RTP and an RTCP socket each. log should already carry the call's
// fields; the session logs through it. The session relays nothing until
// Start, and holds its ports until it ends.
func (m *Manager) NewSession(callID string, log zerolog.Logger) (*Session, error) {
	aRTP, aRTCP, aPort, err := m.ports.bindPair()
	if err != nil {
		return nil, fmt.Errorf("bind caller side of call %s: %w", callID, err)
	}
	bRTP, bRTCP, bPort, err := m.ports.bindPair()
	if err != nil {
		_ = aRTP.Close()
		_ = aRTCP.Close()
		m.ports.release(aPort)
		return nil, fmt.Errorf("bind agent side of call %s: %w", callID, err)
	}
	s := &Session{
		m:     m,
		log:   log,
		epoch: time.Now(),
		done:  make(chan struct{}),
	}
	s.a = leg{port: aPort, local: netip.AddrPortFrom(m.adv, uint16(aPort))}
	s.b = leg{port: bPort, local: netip.AddrPortFrom(m.adv, uint16(bPort))}
	s.a.rtp.init(s, aRTP, sideA, false, &s.b.rtp)
	s.a.rtcp.init(s, aRTCP, sideA, true, &s.b.rtcp)
	s.b.rtp.init(s, bRTP, sideB, false, &s.a.rtp)
	s.b.rtcp.init(s, bRTCP, sideB, true, &s.a.rtcp)
	m.active.Add(1)
	log.Debug().Stringer("local_a", s.a.local).Stringer("local_b", s.b.local).Msg("media session allocated")
	return s, nil
}

const (
	sideA = "a"
	sideB = "b"
)

// readBuf is the size of the buffer packets are read into. G.711 at 20 ms
// is 172 bytes, and nothing larger than an Ethernet MTU is media: a
// datagram that fills the buffer may have been truncated and is dropped.
const readBuf = 1500

// Session relays one call's media between the caller (side A) and the agent
// (side B). Packets read on A's sockets are sent from B's sockets to B's
// remote address and the other way round, byte for byte.
//
// # Latching
//
// Each socket sends first to the address the SDP gave for its side
// (SetRemoteA, SetRemoteB). The first valid packet that arrives on a socket
// latches it: from then on the socket sends to, and accepts from, only the
// address that packet came from (symmetric RTP, which gets media through
// NAT). A latch onto the SDP address is final. A latch onto any other
// address is provisional: as long as no packet has come from the SDP
// address, a packet from a new source moves the latch (the peer's NAT
// rebound), and the first packet from the SDP address fixes it there.
// Packets from other sources are dropped and counted. A new SDP address
// (re-INVITE) clears the latch. RTP and RTCP latch independently.
type Session struct {
	m     *Manager
	log   zerolog.Logger
	a, b  leg
	epoch time.Time    // origin of last
	last  atomic.Int64 // time since epoch of the last accepted RTP packet

	playingA atomic.Bool // PlayA runs: the agent's RTP is not sent to the caller
	playingB atomic.Bool // PlayB runs: the caller's RTP is not sent to the agent

	// bLeg is side B's party when it is a WebRTCLeg of this process (see
	// local.go): packets for B are handed to it in memory, its packets
	// come in through fromLeg, and B's sockets take nothing.
	bLeg atomic.Pointer[WebRTCLeg]

	mu      sync.Mutex // guards the fields below
	started bool
	ended   bool
	err     error
	timer   *time.Timer
	stopCtx func() bool

	poll     sessionPoll // how the poller serves the session's sockets
	done     chan struct{}
	closeErr error // written before done is closed
}

// leg is one side of the call: the sockets the party sends to.
type leg struct {
	port  int
	local netip.AddrPort
	rtp   endpoint
	rtcp  endpoint
}

// endpoint is one socket of a session with the state of the party behind it.
type endpoint struct {
	s      *Session
	conn   *udpSock
	poll   endpointPoll // the poller's state of this socket
	side   string
	isRTCP bool
	peer   *endpoint // the socket that packets read here leave from

	latched atomic.Pointer[netip.AddrPort] // the source latched onto, nil before the first packet
	sdp     atomic.Pointer[netip.AddrPort] // the address from SDP, nil if unknown

	mu     sync.Mutex // serialises latching and SDP changes
	locked bool       // the latch is on the SDP address and final

	packets   atomic.Uint64 // relayed from this socket's party to the peer's party
	bytes     atomic.Uint64
	badSource atomic.Uint64 // dropped: not from the latched source
	invalid   atomic.Uint64 // dropped: not RTP v2 (or not RTCP on an RTCP socket)
	noDest    atomic.Uint64 // dropped: the other side's address was not known yet
	sendErr   atomic.Uint64 // dropped: the write to the other side failed
	playing   atomic.Uint64 // dropped: a prompt was playing to the other side
}

func (e *endpoint) init(s *Session, conn *udpSock, side string, isRTCP bool, peer *endpoint) {
	e.s, e.conn, e.side, e.isRTCP, e.peer = s, conn, side, isRTCP, peer
}

func (e *endpoint) kind() string {
	if e.isRTCP {
		return "rtcp"
	}
	return "rtp"
}

// dest returns where packets for this endpoint's party go: the latched
// source, else the SDP address, else the zero AddrPort.
func (e *endpoint) dest() netip.AddrPort {
	if p := e.latched.Load(); p != nil {
		return *p
	}
	if p := e.sdp.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// accept reports whether a valid packet from src may be relayed, latching
// onto src as the Session documentation describes.
func (e *endpoint) accept(src netip.AddrPort) bool {
	if p := e.latched.Load(); p != nil && *p == src {
		return true
	}
	return e.relatch(src)
}

// relatch is accept's slow path, taken on the first packet and on packets
// from an address other than the latched one.
func (e *endpoint) relatch(src netip.AddrPort) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	prev := e.latched.Load()
	if prev != nil {
		if *prev == src {
			return true
		}
		if e.locked {
			return false
		}
	}
	sdp := e.sdp.Load()
	e.locked = sdp != nil && *sdp == src
	// A fresh copy, not &src: taking src's address would move it to the
	// heap on every call, also on the rejecting path above.
	latch := new(netip.AddrPort)
	*latch = src
	e.latched.Store(latch)
	ev := e.s.log.Debug().Str("side", e.side).Str("kind", e.kind()).Stringer("source", src).Bool("final", e.locked)
	if sdp != nil {
		ev = ev.Stringer("sdp", *sdp)
	}
	if prev != nil {
		ev = ev.Stringer("previous", *prev)
	}
	ev.Msg("media latched")
	return true
}

// setSDP records the address the SDP gave. A different address than before
// clears the latch, so that the new one can be latched onto.
func (e *endpoint) setSDP(addr netip.AddrPort) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.sdp.Load()
	if !addr.IsValid() || addr.Addr().IsUnspecified() || addr.Port() == 0 {
		// c=0.0.0.0 (RFC 2543 hold) or port 0: nowhere to send until a
		// packet shows where the party is. Sending to 0.0.0.0 would reach
		// this host.
		e.sdp.Store(nil)
		return
	}
	if old != nil && *old == addr {
		return
	}
	e.sdp.Store(&addr)
	e.latched.Store(nil)
	e.locked = false
}

// LocalA returns the address the caller must send RTP to: the advertise IP
// and side A's RTP port. RTCP goes to the port above.
func (s *Session) LocalA() netip.AddrPort { return s.a.local }

// LocalB returns the address the agent must send RTP to: the advertise IP
// and side B's RTP port. RTCP goes to the port above.
func (s *Session) LocalB() netip.AddrPort { return s.b.local }

// SetRemoteA sets the caller's RTP address from the caller's SDP, and its
// RTCP address to the port above (call SetRemoteRTCPA afterwards for an SDP
// with a=rtcp). Latching may override both. An unspecified address (hold
// with c=0.0.0.0) or port 0 means unknown: nothing is sent to the caller
// until the caller sends.
func (s *Session) SetRemoteA(rtp netip.AddrPort) { s.a.setRemote(rtp) }

// SetRemoteB is SetRemoteA for the agent's side. When rtp is the RTPAddr
// of a WebRTCLeg of this process, the session and the leg exchange packets
// in memory from then on: the caller's RTP is handed to the leg, the
// leg's RTP counts as the agent's (Stats.BToA), and nothing read on side
// B's sockets is relayed. Another address ends that.
func (s *Session) SetRemoteB(rtp netip.AddrPort) {
	s.b.setRemote(rtp)
	leg := localLeg(rtp)
	if old := s.bLeg.Swap(leg); old != leg {
		if leg != nil {
			s.log.Debug().Stringer("webrtc_leg", rtp).Msg("media side b joined to a webrtc leg in memory")
		} else {
			s.log.Debug().Stringer("remote_b", rtp).Msg("media side b left its webrtc leg")
		}
	}
	if leg != nil {
		leg.joinSession(s)
	}
}

// SetRemoteRTCPA sets the caller's RTCP address when the SDP names one
// (a=rtcp, RFC 3605).
func (s *Session) SetRemoteRTCPA(rtcp netip.AddrPort) { s.a.rtcp.setSDP(rtcp) }

// SetRemoteRTCPB sets the agent's RTCP address when the SDP names one.
func (s *Session) SetRemoteRTCPB(rtcp netip.AddrPort) { s.b.rtcp.setSDP(rtcp) }

func (l *leg) setRemote(addr netip.AddrPort) {
	l.rtp.setSDP(addr)
	rtcp := netip.AddrPort{}
	if addr.IsValid() && addr.Port() != 0 && addr.Port() < 65535 {
		rtcp = netip.AddrPortFrom(addr.Addr(), addr.Port()+1)
	}
	l.rtcp.setSDP(rtcp)
}

// Start starts relaying in both directions. It is idempotent and does
// nothing on a session that has ended. The relay stops when ctx is done,
// when Close is called, or on RTP silence; ctx only bounds the relay, so a
// call's media should get the call's context, not a request's.
func (s *Session) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.ended {
		return
	}
	s.started = true
	s.last.Store(int64(time.Since(s.epoch)))
	if err := s.m.poll.add(s); err != nil {
		// Without its sockets polled the session can relay nothing: end it
		// as a context would, off this goroutine since end takes mu.
		s.log.Error().Err(err).Msg("media session cannot poll its sockets")
		go s.end(fmt.Errorf("start media relay: %w", err))
		return
	}
	if to := s.m.cfg.SilenceTimeout; to > 0 {
		s.timer = time.AfterFunc(to, s.checkSilence)
	}
	s.stopCtx = context.AfterFunc(ctx, func() { s.end(context.Cause(ctx)) })
}

func (s *Session) endpoints() [4]*endpoint {
	return [4]*endpoint{&s.a.rtp, &s.a.rtcp, &s.b.rtp, &s.b.rtcp}
}

// Done returns a channel that is closed when the session has ended for any
// reason and its goroutines have exited and its ports are free.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended: ErrSilence after the silence timeout,
// the context's cause (context.Canceled, context.DeadlineExceeded, or what
// was given to a CancelCauseFunc) when Start's context ended it, and nil
// after Close or while the session is running.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the session, waits for its goroutines to exit and returns its
// ports to the pool. It is idempotent and safe to call concurrently; after
// the session ended by itself it only waits for that to finish.
func (s *Session) Close() error {
	s.end(nil)
	<-s.done
	return s.closeErr
}

// end stops the session once; later calls return at once (Close then waits
// on done).
func (s *Session) end(reason error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.err = reason
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.stopCtx != nil {
		s.stopCtx()
	}
	started := s.started
	s.mu.Unlock()

	if started {
		// After remove, the poller no longer touches the sockets.
		s.m.poll.remove(s)
	}
	var errs []error
	for _, e := range s.endpoints() {
		if err := e.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s %s socket: %w", e.side, e.kind(), err))
		}
	}
	s.m.ports.release(s.a.port)
	s.m.ports.release(s.b.port)
	s.m.active.Add(-1)

	ev := s.log.Info().Object("stats", s.Stats()).Dur("duration", time.Since(s.epoch))
	if reason != nil {
		ev = ev.AnErr("reason", reason)
	}
	ev.Msg("media session ended")
	s.closeErr = errors.Join(errs...)
	close(s.done)
}

// checkSilence runs on the session's one timer. It ends the session if the
// last RTP packet is older than the timeout, else rearms the timer for the
// moment the timeout would expire.
func (s *Session) checkSilence() {
	to := s.m.cfg.SilenceTimeout
	idle := time.Since(s.epoch) - time.Duration(s.last.Load())
	if idle >= to {
		s.end(ErrSilence)
		return
	}
	s.mu.Lock()
	if !s.ended {
		s.timer.Reset(to - idle)
	}
	s.mu.Unlock()
}

// relay handles one packet read on e from src: it checks the packet,
// latches, and sends it unchanged from the peer socket to the other party.
// It does not allocate (see TestRelayAllocs).
func (s *Session) relay(e *endpoint, h *rtp.Header, pkt []byte, src netip.AddrPort) {
	if len(pkt) >= readBuf {
		e.invalid.Add(1)
		return
	}
	if e.isRTCP {
		if !validRTCP(pkt) {
			e.invalid.Add(1)
			return
		}
	} else if !validRTP(h, pkt) {
		e.invalid.Add(1)
		return
	}
	if (e == &s.b.rtp || e == &s.b.rtcp) && s.bLeg.Load() != nil {
		e.badSource.Add(1) // side B's party is in this process, not out there
		return
	}
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	if !e.accept(src) {
		e.badSource.Add(1)
		return
	}
	s.forward(e, pkt)
}

// forward sends a valid packet of e's party on to the other party: from
// the peer socket, or in memory to side B's WebRTC leg. It does not
// allocate.
func (s *Session) forward(e *endpoint, pkt []byte) {
	if !e.isRTCP && s.m.cfg.SilenceTimeout > 0 {
		s.last.Store(int64(time.Since(s.epoch)))
	}
	if (e == &s.b.rtp && s.playingA.Load()) || (e == &s.a.rtp && s.playingB.Load()) {
		e.playing.Add(1) // a prompt owns the stream to the other side
		return
	}
	if e == &s.a.rtp {
		if leg := s.bLeg.Load(); leg != nil {
			leg.fromRelay(s, pkt)
			e.packets.Add(1)
			e.bytes.Add(uint64(len(pkt)))
			return
		}
	}
	dst := e.peer.dest()
	if !dst.IsValid() {
		e.noDest.Add(1)
		return
	}
	if _, err := e.peer.conn.WriteToUDPAddrPort(pkt, dst); err != nil {
		e.sendErr.Add(1)
		return
	}
	e.packets.Add(1)
	e.bytes.Add(uint64(len(pkt)))
}

// fromLeg relays an RTP packet of side B's WebRTC leg to the caller, as
// if it had been read on B's RTP socket from the latched source. A leg
// the session is no longer joined to is refused. The leg's track reader
// calls it, concurrently with the poll loop.
func (s *Session) fromLeg(l *WebRTCLeg, pkt []byte) {
	e := &s.b.rtp
	if s.bLeg.Load() != l {
		e.badSource.Add(1)
		return
	}
	if len(pkt) < rtpHeaderLen || len(pkt) >= readBuf || pkt[0]>>6 != 2 {
		e.invalid.Add(1)
		return
	}
	s.forward(e, pkt)
}

// Flow counts the packets and bytes relayed in one direction.
type Flow struct {
	Packets uint64
	Bytes   uint64
}

// Stats counts what a session relayed and dropped.
type Stats struct {
	AToB     Flow // RTP from the caller to the agent
	BToA     Flow // RTP from the agent to the caller
	RTCPAToB Flow // RTCP from the caller to the agent
	RTCPBToA Flow // RTCP from the agent to the caller

	DroppedSource  uint64 // valid packets from an address other than the latched one
	DroppedInvalid uint64 // not RTP v2 on an RTP socket, not RTCP on an RTCP socket, or truncated
	DroppedNoDest  uint64 // arrived before the other side's address was known
	SendErrors     uint64 // the write towards the other side failed
	DroppedPlaying uint64 // the agent's RTP while a prompt played to the caller (Session.PlayA)
}

// Dropped returns the number of packets received and not relayed.
func (st Stats) Dropped() uint64 {
	return st.DroppedSource + st.DroppedInvalid + st.DroppedNoDest + st.SendErrors + st.DroppedPlaying
}

// MarshalZerologObject writes the counters as fields of a log event.
func (st Stats) MarshalZerologObject(ev *zerolog.Event) {
	ev.Uint64("a_to_b_packets", st.AToB.Packets).Uint64("a_to_b_bytes", st.AToB.Bytes).
		Uint64("b_to_a_packets", st.BToA.Packets).Uint64("b_to_a_bytes", st.BToA.Bytes).
		Uint64("rtcp_a_to_b_packets", st.RTCPAToB.Packets).Uint64("rtcp_b_to_a_packets", st.RTCPBToA.Packets).
		Uint64("dropped_source", st.DroppedSource).Uint64("dropped_invalid", st.DroppedInvalid).
		Uint64("dropped_no_dest", st.DroppedNoDest).Uint64("send_errors", st.SendErrors).
		Uint64("dropped_playing", st.DroppedPlaying)
}

// Stats returns the session's counters so far. It may be called at any
// time, also after the session ended.
func (s *Session) Stats() Stats {
	var st Stats
	flow := func(e *endpoint) Flow { return Flow{Packets: e.packets.Load(), Bytes: e.bytes.Load()} }
	st.AToB, st.BToA = flow(&s.a.rtp), flow(&s.b.rtp)
	st.RTCPAToB, st.RTCPBToA = flow(&s.a.rtcp), flow(&s.b.rtcp)
	for _, e := range s.endpoints() {
		st.DroppedSource += e.badSource.Load()
		st.DroppedInvalid += e.invalid.Load()
		st.DroppedNoDest += e.noDest.Load()
		st.SendErrors += e.sendErr.Load()
		st.DroppedPlaying += e.playing.Load()
	}
	return st
}

package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rs/zerolog"
)

// waitLimit bounds every wait for a packet or for a session to end.
const waitLimit = 5 * time.Second

var loopback = netip.MustParseAddr("127.0.0.1")

// rangeMu keeps the tests of this package from picking the same port range.
// Test port ranges come from 15000-19999: below the ranges the end-to-end
// tests' peers take (20000-32000, internal/peer) and the ephemeral ports
// port-0 binds land on, so parallel test processes do not collide.
const rangeLow, rangeHigh = 15000, 20000

var (
	rangeMu   sync.Mutex
	rangeNext = rangeLow
)

// freeRange returns a port range of pairs RTP/RTCP pairs on loopback whose
// ports were all free a moment ago.
func freeRange(t testing.TB, pairs int) (minPort, maxPort int) {
	t.Helper()
	rangeMu.Lock()
	defer rangeMu.Unlock()
	for attempt := 0; attempt < 200; attempt++ {
		base := rangeNext
		rangeNext += 2 * pairs
		if rangeNext > rangeHigh {
			rangeNext = rangeLow
		}
		var held []*net.UDPConn
		ok := true
		for p := base; p < base+2*pairs; p++ {
			c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(p))))
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			_ = c.Close()
		}
		if ok {
			return base, base + 2*pairs - 1
		}
	}
	t.Fatal("no free port range on loopback")
	return 0, 0
}

// testBundle holds a manager on loopback and its log output.
type testBundle struct {
	m   *Manager
	log *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the session's goroutines to log to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func setup(t testing.TB, pairs int, silence time.Duration) *testBundle {
	t.Helper()
	minPort, maxPort := freeRange(t, pairs)
	logBuf := &syncBuffer{}
	m, err := NewManager(Config{
		BindIP:         loopback,
		PortMin:        minPort,
		PortMax:        maxPort,
		SilenceTimeout: silence,
	}, zerolog.New(logBuf).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return &testBundle{m: m, log: logBuf}
}

// newSession allocates a session that is closed when the test ends.
func (tb *testBundle) newSession(t testing.TB) *Session {
	t.Helper()
	s, err := tb.m.NewSession("call-1", zerolog.New(tb.log).With().Str("call_id", "call-1").Logger().Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// phone is a UDP endpoint on loopback standing in for a caller or an agent.
type phone struct {
	t    testing.TB
	conn *net.UDPConn
	buf  []byte
}

func newPhone(t testing.TB) *phone {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen phone: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &phone{t: t, conn: c, buf: make([]byte, 4096)}
}

func (p *phone) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *phone) send(to netip.AddrPort, pkt []byte) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort(pkt, to); err != nil {
		p.t.Fatalf("send to %s: %v", to, err)
	}
}

// recv returns the next datagram and its source, failing the test if none
// arrives in time.
func (p *phone) recv() ([]byte, netip.AddrPort) {
	p.t.Helper()
	pkt, src, ok := p.recvWithin(waitLimit)
	if !ok {
		p.t.Fatalf("phone %s received nothing within %s", p.addr(), waitLimit)
	}
	return pkt, src
}

// recvWithin returns the next datagram if one arrives within d.
func (p *phone) recvWithin(d time.Duration) ([]byte, netip.AddrPort, bool) {
	p.t.Helper()
	if err := p.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		p.t.Fatalf("set deadline: %v", err)
	}
	n, src, err := p.conn.ReadFromUDPAddrPort(p.buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, netip.AddrPort{}, false
		}
		p.t.Fatalf("recv: %v", err)
	}
	return append([]byte(nil), p.buf[:n]...), src, true
}

// rtpPacket builds a PCMU packet with 160 bytes of payload.
func rtpPacket(t testing.TB, seq uint16, ssrc uint32) []byte {
	t.Helper()
	payload := bytes.Repeat([]byte{byte(seq)}, 160)
	pkt, err := (&rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: ssrc},
		Payload: payload,
	}).Marshal()
	if err != nil {
		t.Fatalf("marshal rtp: %v", err)
	}
	return pkt
}

// rtcpRR is an RTCP receiver report with no report blocks (RFC 3550 6.4.2).
var rtcpRR = []byte{0x80, 201, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef}

func rtcpOf(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr(), a.Port()+1) }

func waitDone(t testing.TB, s *Session) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(waitLimit):
		t.Fatalf("session did not end within %s", waitLimit)
	}
}

func TestRelayBothWays(t *testing.T) {
	t.Parallel()
	tb := setup(t, 4, 0)
	s := tb.newSession(t)
	caller, agent := newPhone(t), newPhone(t)
	s.SetRemoteA(caller.addr())
	s.SetRemoteB(agent.addr())
	s.Start(t.Context())

	for i := range 5 {
		up := rtpPacket(t, uint16(100+i), 0x1111)
		caller.send(s.LocalA(), up)
		got, src := agent.recv()
		if !bytes.Equal(got, up) {
			t.Fatalf("agent got %x, want %x", got, up)
		}
		if src != s.LocalB() {
			t.Fatalf("agent got packet from %s, want it from LocalB %s", src, s.LocalB())
		}

		down := rtpPacket(t, uint16(200+i), 0x2222)
		agent.send(s.LocalB(), down)
		got, src = caller.recv()
		if !bytes.Equal(got, down) {
			t.Fatalf("caller got %x, want %x", got, down)
		}
		if src != s.LocalA() {
			t.Fatalf("caller got packet from %s, want it from LocalA %s", src, s.LocalA())
		}
	}
	wantStats(t, s, "5 packets of 172 bytes each way and nothing dropped", func(st Stats) bool {
		return st.AToB.Packets == 5 && st.BToA.Packets == 5 && st.AToB.Bytes == 5*172 && st.Dropped() == 0
	})
}

func TestRelayRTCP(t *testing.T) {
	t.Parallel()
	tb := setup(t, 4, 0)
	s := tb.newSession(t)
	// The agent's RTCP socket is at its RTP port + 1, as SetRemoteB assumes.
	agentPort, _ := freeRange(t, 1)
	var agentRTCPPhone *phone
	for i, port := range []int{agentPort, agentPort + 1} {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(port))))
		if err != nil {
			t.Fatalf("bind agent port %d: %v", port, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if i == 1 {
			agentRTCPPhone = &phone{t: t, conn: c, buf: make([]byte, 4096)}
		}
	}
	callerRTCP := newPhone(t)

	s.SetRemoteA(netip.AddrPortFrom(loopback, 9)) // RTCP goes wherever the caller sends from
	s.SetRemoteB(netip.AddrPortFrom(loopback, uint16(agentPort)))
	s.Start(t.Context())

	callerRTCP.send(rtcpOf(s.LocalA()), rtcpRR)
	got, src := agentRTCPPhone.recv()
	if !bytes.Equal(got, rtcpRR) || src != rtcpOf(s.LocalB()) {
		t.Fatalf("agent RTCP got %x from %s, want %x from %s", got, src, rtcpRR, rtcpOf(s.LocalB()))
	}
	agentRTCPPhone.send(rtcpOf(s.LocalB()), rtcpRR)
	got, src = callerRTCP.recv()
	if !bytes.Equal(got, rtcpRR) || src != rtcpOf(s.LocalA()) {
		t.Fatalf("caller RTCP got %x from %s (latched), want %x from %s", got, src, rtcpRR, rtcpOf(s.LocalA()))
	}

	// An RTP packet on the RTCP socket is not RTCP.
	callerRTCP.send(rtcpOf(s.LocalA()), rtpPacket(t, 1, 1))
	callerRTCP.send(rtcpOf(s.LocalA()), rtcpRR)
	if got, _ := agentRTCPPhone.recv(); !bytes.Equal(got, rtcpRR) {
		t.Fatalf("agent RTCP got %x, want the RR after the dropped RTP packet", got)
	}
	wantStats(t, s, "2 RTCP A->B, 1 B->A, 1 invalid", func(st Stats) bool {
		return st.RTCPAToB.Packets == 2 && st.RTCPBToA.Packets == 1 && st.DroppedInvalid == 1 && st.AToB.Packets == 0
	})
}

func TestRelayLatching(t *testing.T) {
	t.Parallel()
	tb := setup(t, 4, 0)
	s := tb.newSession(t)
	caller, agent := newPhone(t), newPhone(t)
	decoy := newPhone(t) // the caller's SDP address; it never sends (NAT)
	s.SetRemoteA(decoy.addr())
	s.SetRemoteB(agent.addr())
	s.Start(t.Context())

	// Before the caller sends, the agent's media goes to the SDP address.
	first := rtpPacket(t, 1, 0x2222)
	agent.send(s.LocalB(), first)
	if got, _ := decoy.recv(); !bytes.Equal(got, first) {
		t.Fatalf("SDP address got %x, want %x", got, first)
	}

	// The caller's first packet comes from another address: latch onto it.
	caller.send(s.LocalA(), rtpPacket(t, 10, 0x1111))
	agent.recv()
	second := rtpPacket(t, 2, 0x2222)
	agent.send(s.LocalB(), second)
	if got, _ := caller.recv(); !bytes.Equal(got, second) {
		t.Fatalf("latched caller got %x, want %x", got, second)
	}
	if _, _, ok := decoy.recvWithin(50 * time.Millisecond); ok {
		t.Fatal("SDP address still receives after latching elsewhere")
	}

	// The latch is provisional (the SDP address was never seen): a new
	// source (NAT rebinding) takes it over.
	rebound := newPhone(t)
	rebound.send(s.LocalA(), rtpPacket(t, 11, 0x1111))
	agent.recv()
	third := rtpPacket(t, 3, 0x2222)
	agent.send(s.LocalB(), third)
	if got, _ := rebound.recv(); !bytes.Equal(got, third) {
		t.Fatalf("relatched caller got %x, want %x", got, third)
	}

	// Once the SDP address sends, the latch is final and others are dropped.
	decoy.send(s.LocalA(), rtpPacket(t, 12, 0x1111))
	agent.recv()
	rebound.send(s.LocalA(), rtpPacket(t, 13, 0x1111))
	caller.send(s.LocalA(), rtpPacket(t, 14, 0x1111))
	marker := rtpPacket(t, 15, 0x1111)
	decoy.send(s.LocalA(), marker)
	if got, _ := agent.recv(); !bytes.Equal(got, marker) {
		t.Fatalf("agent got %x, want only the packet from the SDP address", got)
	}
	wantStats(t, s, "2 dropped for source and 4 relayed A->B", func(st Stats) bool {
		return st.DroppedSource == 2 && st.AToB.Packets == 4
	})

	// A new SDP address (re-INVITE) clears the final latch.
	s.SetRemoteA(caller.addr())
	caller.send(s.LocalA(), rtpPacket(t, 16, 0x1111))
	agent.recv()
	fourth := rtpPacket(t, 4, 0x2222)
	agent.send(s.LocalB(), fourth)
	if got, _ := caller.recv(); !bytes.Equal(got, fourth) {
		t.Fatalf("caller after re-INVITE got %x, want %x", got, fourth)
	}
	if !bytes.Contains([]byte(tb.log.String()), []byte(`"message":"media latched"`)) {
		t.Fatalf("no latch debug log in %s", tb.log.String())
	}
}

func TestRelayDropsGarbage(t *testing.T) {
	t.Parallel()
	tb := setup(t, 4, 0)
	s := tb.newSession(t)
	caller, agent := newPhone(t), newPhone(t)
	s.SetRemoteA(caller.addr())
	s.SetRemoteB(agent.addr())
	s.Start(t.Context())

	v1 := rtpPacket(t, 1, 1)
	v1[0] = 0x40 // version 1
	badCSRC := rtpPacket(t, 1, 1)[:12]
	badCSRC[0] |= 0x03 // claims three CSRCs, has none
	garbage := [][]byte{
		[]byte("hello, this is not rtp"),
		{0x80, 0x00},
		v1,
		badCSRC,
		rtcpRR,                    // RTCP on the RTP port (PT 73 when read as RTP)
		make([]byte, readBuf+100), // truncated by the reader's buffer
	}
	for _, g := range garbage {
		caller.send(s.LocalA(), g)
	}
	valid := rtpPacket(t, 7, 1)
	caller.send(s.LocalA(), valid)
	if got, _ := agent.recv(); !bytes.Equal(got, valid) {
		t.Fatalf("agent got %x, want the valid packet after the garbage", got)
	}
	wantStats(t, s, fmt.Sprintf("%d invalid and 1 relayed", len(garbage)), func(st Stats) bool {
		return st.DroppedInvalid == uint64(len(garbage)) && st.AToB.Packets == 1
	})
}

func TestRelayNoDestinationYet(t *testing.T) {
	t.Parallel()
	tb := setup(t, 4, 0)
	s := tb.newSession(t)
	caller, agent := newPhone(t), newPhone(t)
	s.SetRemoteA(netip.AddrPortFrom(netip.IPv4Unspecified(), 4000)) // c=0.0.0.0: unknown
	s.Start(t.Context())

	caller.send(s.LocalA(), rtpPacket(t, 1, 1)) // latches A; the agent's address is not known yet
	eventually(t, func() bool { return s.Stats().DroppedNoDest == 1 })
	s.SetRemoteB(agent.addr())
	pkt := rtpPacket(t, 3, 1)
	caller.send(s.LocalA(), pkt)
	if got, _ := agent.recv(); !bytes.Equal(got, pkt) {
		t.Fatalf("agent got %x, want %x", got, pkt)
	}
	back := rtpPacket(t, 4, 2)
	agent.send(s.LocalB(), back)
	if got, _ := caller.recv(); !bytes.Equal(got, back) {
		t.Fatalf("caller (known only by latching) got %x, want %x", got, back)
	}
	wantStats(t, s, "1 dropped for lack of destination and 1 relayed each way", func(st Stats) bool {
		return st.DroppedNoDest == 1 && st.AToB.Packets == 1 && st.BToA.Packets == 1
	})
}

// eventually waits, for a bounded time, until cond holds. It is for
// counters, which signal nothing when they change: a relay goroutine counts
// a packet just after the write that a phone may already have read.
func eventually(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", waitLimit)
		}
		time.Sleep(time.Millisecond)
	}
}

// wantStats waits, for a bounded time, until the session's counters
// satisfy cond. Tests call it when no more packets are on their way.
func wantStats(t testing.TB, s *Session, want string, cond func(Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		st := s.Stats()
		if cond(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v, want %s", st, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSilenceTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	tb := setup(t, 2, timeout)
	s := tb.newSession(t)
	caller, agent := newPhone(t), newPhone(t)
	s.SetRemoteA(caller.addr())
	s.SetRemoteB(agent.addr())
	s.Start(t.Context())

	lastRTP := time.Now() // the relay sees the packet after this
	caller.send(s.LocalA(), rtpPacket(t, 1, 1))
	agent.recv()
	// RTCP alone does not count as media.
	caller.send(rtcpOf(s.LocalA()), rtcpRR)

	waitDone(t, s)
	if quiet := time.Since(lastRTP); quiet < timeout {
		t.Fatalf("session ended %s after the last RTP packet, before the %s timeout", quiet, timeout)
	}
	if !errors.Is(s.Err(), ErrSilence) {
		t.Fatalf("Err = %v, want ErrSilence", s.Err())
	}
	if n := tb.m.Active(); n != 0 {
		t.Fatalf("Active = %d after silence, want 0", n)
	}
	if n := tb.m.ports.inUse(); n != 0 {
		t.Fatalf("%d port pairs in use after silence, want 0", n)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after silence: %v", err)
	}
	if !bytes.Contains([]byte(tb.log.String()), []byte(`"message":"media session ended"`)) {
		t.Fatalf("no end log in %s", tb.log.String())
	}
}

// TestSilenceCheck drives the silence timer's check by hand, so that what
// counts as media and when the session ends do not depend on the scheduler.
func TestSilenceCheck(t *testing.T) {
	t.Parallel()
	const timeout = time.Hour // the timer itself never fires in this test
	tb := setup(t, 2, timeout)
	s := tb.newSession(t)
	caller, agent := newPhone(t), newPhone(t)
	s.SetRemoteA(caller.addr())
	s.SetRemoteB(agent.addr())
	s.Start(t.Context())

	h := newHeader()
	s.last.Store(0)
	s.relay(&s.a.rtcp, h, rtcpRR, rtcpOf(caller.addr()))
	if s.last.Load() != 0 {
		t.Fatal("RTCP counted as media")
	}
	s.relay(&s.b.rtp, h, []byte("not rtp at all"), agent.addr())
	if s.last.Load() != 0 {
		t.Fatal("garbage counted as media")
	}
	s.relay(&s.b.rtp, h, rtpPacket(t, 1, 2), agent.addr())
	if s.last.Load() == 0 {
		t.Fatal("RTP from B not counted as media")
	}

	// Quiet for less than the timeout: the session lives and the check
	// rearms the timer, as if the timer had just fired.
	s.mu.Lock()
	s.timer.Stop()
	s.mu.Unlock()
	s.last.Store(int64(time.Since(s.epoch) - timeout/2))
	s.checkSilence()
	select {
	case <-s.Done():
		t.Fatalf("session ended after half the timeout: %v", s.Err())
	default:
	}
	s.mu.Lock()
	rearmed := s.timer.Stop()
	s.mu.Unlock()
	if !rearmed {
		t.Fatal("the silence check did not rearm the timer")
	}
	// Quiet for the timeout: the check ends the session.
	s.last.Store(int64(time.Since(s.epoch) - timeout))
	s.checkSilence()
	waitDone(t, s)
	if !errors.Is(s.Err(), ErrSilence) {
		t.Fatalf("Err = %v, want ErrSilence", s.Err())
	}
}

func TestContextEndsSession(t *testing.T) {
	t.Parallel()
	tb := setup(t, 2, 0)
	s := tb.newSession(t)
	ctx, cancel := context.WithCancel(t.Context())
	s.Start(ctx)
	s.Start(ctx) // idempotent
	cancel()
	waitDone(t, s)
	if !errors.Is(s.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", s.Err())
	}
	if tb.m.Active() != 0 {
		t.Fatalf("Active = %d, want 0", tb.m.Active())
	}
}

// TestCloseStopsGoroutines is not parallel: it counts the process's
// goroutines.
func TestCloseStopsGoroutines(t *testing.T) {
	tb := setup(t, 2, time.Minute)
	before := runtime.NumGoroutine()

	s := tb.newSession(t)
	caller, agent := newPhone(t), newPhone(t)
	s.SetRemoteA(caller.addr())
	s.SetRemoteB(agent.addr())
	s.Start(t.Context())
	caller.send(s.LocalA(), rtpPacket(t, 1, 1))
	agent.recv()
	// How many goroutines relaying takes depends on the platform (shared
	// poll loops on Linux); what matters is that Close gives them back.
	if tb.m.Active() != 1 || tb.m.ports.inUse() != 2 {
		t.Fatalf("Active = %d, pairs in use = %d; want 1 and 2", tb.m.Active(), tb.m.ports.inUse())
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitDone(t, s)
	if s.Err() != nil {
		t.Fatalf("Err after Close = %v, want nil", s.Err())
	}
	// The readers have called wg.Done when Close returns; give them a
	// bounded moment to leave the scheduler.
	deadline := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, want %d\n%s", runtime.NumGoroutine(), before,
				buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if tb.m.Active() != 0 || tb.m.ports.inUse() != 0 {
		t.Fatalf("Active = %d, pairs in use = %d after Close; want 0 and 0", tb.m.Active(), tb.m.ports.inUse())
	}
	// The ports can be bound again.
	for _, p := range []netip.AddrPort{s.LocalA(), rtcpOf(s.LocalA()), s.LocalB(), rtcpOf(s.LocalB())} {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(p))
		if err != nil {
			t.Fatalf("port %s still bound after Close: %v", p, err)
		}
		_ = c.Close()
	}
	// Start after Close does nothing.
	s.Start(t.Context())
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("Start after Close started goroutines: %d > %d", n, before)
	}
}

func TestPortExhaustion(t *testing.T) {
	t.Parallel()
	tb := setup(t, 2, 0) // exactly one session's worth
	s := tb.newSession(t)
	_, err := tb.m.NewSession("call-2", zerolog.Nop())
	if !errors.Is(err, ErrNoPorts) {
		t.Fatalf("second NewSession error = %v, want ErrNoPorts", err)
	}
	if tb.m.Active() != 1 || tb.m.ports.inUse() != 2 {
		t.Fatalf("Active = %d, pairs in use = %d; a failed NewSession must free what it took", tb.m.Active(), tb.m.ports.inUse())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := tb.newSession(t)
	if s2.LocalA().Port() == s2.LocalB().Port() {
		t.Fatalf("both sides got port %d", s2.LocalA().Port())
	}
}

func TestPortsHeldElsewhereAreSkipped(t *testing.T) {
	t.Parallel()
	tb := setup(t, 3, 0)
	// Another process holds the RTCP port of the first pair.
	held, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(tb.m.cfg.PortMin+1))))
	if err != nil {
		t.Fatalf("hold port: %v", err)
	}
	t.Cleanup(func() { _ = held.Close() })

	s := tb.newSession(t)
	for _, p := range []uint16{s.LocalA().Port(), s.LocalB().Port()} {
		if int(p) == tb.m.cfg.PortMin || p%2 != 0 || int(p) > tb.m.cfg.PortMax-1 {
			t.Fatalf("got RTP port %d, want an even port above the held pair in %d-%d", p, tb.m.cfg.PortMin, tb.m.cfg.PortMax)
		}
	}
	if _, err := tb.m.NewSession("call-2", zerolog.Nop()); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("NewSession with only the held pair left: %v, want ErrNoPorts", err)
	}
}

func TestConcurrentSessions(t *testing.T) {
	t.Parallel()
	const n = 16
	tb := setup(t, 2*n, 0)
	var wg sync.WaitGroup
	sessions := make(chan *Session, n)
	for range n {
		wg.Go(func() {
			s, err := tb.m.NewSession("call", zerolog.Nop())
			if err != nil {
				t.Errorf("NewSession: %v", err)
				return
			}
			sessions <- s
		})
	}
	wg.Wait()
	close(sessions)
	seen := map[uint16]bool{}
	var all []*Session
	for s := range sessions {
		all = append(all, s)
		for _, p := range []uint16{s.LocalA().Port(), s.LocalB().Port()} {
			if seen[p] {
				t.Errorf("port %d given out twice", p)
			}
			seen[p] = true
		}
	}
	if tb.m.Active() != n {
		t.Errorf("Active = %d, want %d", tb.m.Active(), n)
	}
	for _, s := range all {
		wg.Go(func() { _ = s.Close() })
	}
	wg.Wait()
	if tb.m.Active() != 0 || tb.m.ports.inUse() != 0 {
		t.Fatalf("Active = %d, pairs in use = %d after closing all", tb.m.Active(), tb.m.ports.inUse())
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	v4 := netip.MustParseAddr("192.0.2.1")
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
		wantAdv netip.Addr
	}{
		{"loopback", Config{BindIP: loopback, PortMin: 20000, PortMax: 20003}, false, loopback},
		{"any with advertise", Config{BindIP: netip.IPv4Unspecified(), AdvertiseIP: v4, PortMin: 20000, PortMax: 20100}, false, v4},
		{"odd min", Config{BindIP: loopback, PortMin: 20001, PortMax: 20003}, false, loopback},
		{"any without advertise", Config{BindIP: netip.IPv4Unspecified(), PortMin: 20000, PortMax: 20100}, true, netip.Addr{}},
		{"no bind ip", Config{AdvertiseIP: v4, PortMin: 20000, PortMax: 20100}, true, v4},
		{"unspecified advertise", Config{BindIP: netip.IPv4Unspecified(), AdvertiseIP: netip.IPv4Unspecified(), PortMin: 20000, PortMax: 20100}, true, netip.IPv4Unspecified()},
		{"family mismatch", Config{BindIP: netip.IPv6Unspecified(), AdvertiseIP: v4, PortMin: 20000, PortMax: 20100}, true, v4},
		{"reversed range", Config{BindIP: loopback, PortMin: 20100, PortMax: 20000}, true, loopback},
		{"no pair in range", Config{BindIP: loopback, PortMin: 20001, PortMax: 20002}, true, loopback},
		{"port zero", Config{BindIP: loopback, PortMin: 0, PortMax: 20002}, true, loopback},
		{"port too high", Config{BindIP: loopback, PortMin: 65000, PortMax: 65536}, true, loopback},
		{"negative silence", Config{BindIP: loopback, PortMin: 20000, PortMax: 20003, SilenceTimeout: -time.Second}, true, loopback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
			if adv := tt.cfg.advertise(); adv != tt.wantAdv {
				t.Fatalf("advertise() = %s, want %s", adv, tt.wantAdv)
			}
			_, err = NewManager(tt.cfg, zerolog.Nop())
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewManager() = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

// TestRelayAllocs checks that the per-packet path allocates nothing, for
// every kind of packet a peer can send once the session is latched. It is
// not parallel: AllocsPerRun counts the whole process's allocations.
func TestRelayAllocs(t *testing.T) {
	tb := setup(t, 2, time.Minute)
	s := tb.newSession(t) // not started: relay is called directly
	caller, agent := newPhone(t), newPhone(t)
	s.SetRemoteA(caller.addr())
	s.SetRemoteB(agent.addr())

	withExt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: 9, SSRC: 3}, Payload: []byte{1, 0, 0, 160}}
	if err := withExt.SetExtension(1, []byte{0x30}); err != nil {
		t.Fatal(err)
	}
	if err := withExt.SetExtension(2, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	extPkt, err := withExt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	csrc, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, CSRC: []uint32{1, 2, 3}}, Payload: make([]byte, 160)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	other := netip.AddrPortFrom(loopback, 9)

	tests := []struct {
		name  string
		ep    *endpoint
		pkt   []byte
		src   netip.AddrPort
		check func(Stats) uint64
	}{
		{"rtp", &s.a.rtp, rtpPacket(t, 1, 1), caller.addr(), func(st Stats) uint64 { return st.AToB.Packets }},
		{"rtp with extensions", &s.a.rtp, extPkt, caller.addr(), func(st Stats) uint64 { return st.AToB.Packets }},
		{"rtp with csrc", &s.a.rtp, csrc, caller.addr(), func(st Stats) uint64 { return st.AToB.Packets }},
		{"rtcp", &s.a.rtcp, rtcpRR, rtcpOf(caller.addr()), func(st Stats) uint64 { return st.RTCPAToB.Packets }},
		{"not rtp", &s.a.rtp, []byte("garbage garbage"), caller.addr(), func(st Stats) uint64 { return st.DroppedInvalid }},
		{"wrong source", &s.a.rtp, rtpPacket(t, 2, 1), other, func(st Stats) uint64 { return st.DroppedSource }},
	}
	h := newHeader()
	// Latch both sockets first: latching allocates once.
	s.relay(&s.a.rtp, h, rtpPacket(t, 0, 1), caller.addr())
	s.relay(&s.a.rtcp, h, rtcpRR, rtcpOf(caller.addr()))
	for _, tt := range tests {
		before := tt.check(s.Stats())
		allocs := testing.AllocsPerRun(200, func() { s.relay(tt.ep, h, tt.pkt, tt.src) })
		if allocs != 0 {
			t.Errorf("%s: %v allocs per packet, want 0", tt.name, allocs)
		}
		if got := tt.check(s.Stats()) - before; got < 200 {
			t.Errorf("%s: counter moved by %d, want at least 200: the path under test was not taken", tt.name, got)
		}
	}
}

// BenchmarkRelayPacket sends RTP through a started Session on loopback, one
// packet at a time from the caller to the agent.
func BenchmarkRelayPacket(b *testing.B) {
	tb := setup(b, 2, time.Minute)
	s := tb.newSession(b)
	caller, agent := newPhone(b), newPhone(b)
	s.SetRemoteA(caller.addr())
	s.SetRemoteB(agent.addr())
	s.Start(b.Context())
	pkt := rtpPacket(b, 1, 1)
	dst := s.LocalA()
	buf := make([]byte, 2048)
	if err := agent.conn.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	// Warm up: latch and grow nothing later.
	caller.send(dst, pkt)
	agent.recv()
	if err := agent.conn.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if _, err := caller.conn.WriteToUDPAddrPort(pkt, dst); err != nil {
			b.Fatal(err)
		}
		if _, _, err := agent.conn.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := s.Stats(); st.Dropped() != 0 {
		b.Fatalf("dropped packets: %+v", st)
	}
}

func BenchmarkValidRTP(b *testing.B) {
	pkt := rtpPacket(b, 1, 1)
	h := newHeader()
	b.ReportAllocs()
	for b.Loop() {
		if !validRTP(h, pkt) {
			b.Fatal("valid packet rejected")
		}
	}
}

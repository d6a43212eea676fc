package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// G.711 at 20 ms: 160 payload bytes, 50 packets/s per direction.
const (
	ptime      = 20 * time.Millisecond
	rtpHeader  = 12
	payloadLen = 160
	packetLen  = rtpHeader + payloadLen
	// slots spreads the streams over the 20 ms period, one slot per
	// millisecond, as independent phones would send.
	slots   = 20
	slotLen = ptime / slots
	// histBucket and histBuckets bound the latency histogram: 10 µs
	// resolution up to 200 ms, one overflow bucket above.
	histBucket  = 10 * time.Microsecond
	histBuckets = 20000
)

// stream is one RTP sender and receiver socket, the media end of one side
// of one call. A virtual stream (conn nil) has no socket: it hands its
// packets to out, e.g. a WebRTC track that encrypts them, and whoever
// receives for it calls generator.countRTP.
type stream struct {
	id    uint32
	conn  *net.UDPConn
	fd    int // conn's descriptor, for the receiver's reads
	port  int
	dst   atomic.Pointer[netip.AddrPort] // nil: not sending
	out   atomic.Pointer[packetOut]      // virtual streams: nil not sending
	seq   uint16
	ts    uint32
	count uint32
	buf   [packetLen]byte
}

// packetOut is where a virtual stream writes its RTP packets.
type packetOut struct{ w io.Writer }

// generator sends G.711-sized RTP on every stream at 20 ms and receives on
// the same sockets. Each payload carries the send time, the sending stream,
// the epoch and a counter, so that any receiver can measure one-way latency,
// loss per epoch and reordering without knowing which stream it pairs with.
type generator struct {
	base    time.Time
	streams []*stream

	epoch     atomic.Uint32 // written into packets
	measuring atomic.Uint32 // the epoch being counted; 0 none

	sent atomic.Uint64
	recv atomic.Uint64
	// split divides the streams into two directions for sentDir and
	// recvDir: packets sent by streams below it are direction 0, the
	// others direction 1 (0: everything is direction 0).
	split     uint32
	sentDir   [2]atomic.Uint64
	recvDir   [2]atomic.Uint64
	reordered atomic.Uint64
	highest   []atomic.Uint32 // per sending stream: highest counter+1 received
	hist      []atomic.Uint64
	maxLag    atomic.Int64 // worst lateness of the sender loop, ns

	recvErr atomic.Value // error: the receiver could not start

	stop chan struct{}
	wg   sync.WaitGroup
}

// newGenerator opens n loopback sockets.
func newGenerator(n int) (*generator, error) { return newMixedGenerator(n, 0) }

// newMixedGenerator opens udp loopback sockets (streams 0..udp-1) on
// ephemeral ports other than avoid (a port another process is about to
// bind, such as the agents' SIPp) and adds virtual streams
// udp..udp+virtual-1, which send through their out writer.
func newMixedGenerator(udp, virtual int, avoid ...int) (*generator, error) {
	n := udp + virtual
	g := &generator{
		base:    time.Now(),
		highest: make([]atomic.Uint32, n),
		hist:    make([]atomic.Uint64, histBuckets+1),
		stop:    make(chan struct{}),
	}
	g.epoch.Store(1)
	// A socket that lands on a port to avoid stays open until the others
	// are bound, so that the kernel hands out another one.
	var parked []*net.UDPConn
	defer func() {
		for _, c := range parked {
			c.Close()
		}
	}()
	for i := range n {
		s := &stream{id: uint32(i)}
		for i < udp && s.conn == nil {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				g.close()
				return nil, err
			}
			port := c.LocalAddr().(*net.UDPAddr).Port
			if slices.Contains(avoid, port) {
				parked = append(parked, c)
				continue
			}
			fd, err := timestampArrivals(c)
			if err != nil {
				c.Close()
				g.close()
				return nil, err
			}
			s.conn, s.fd, s.port = c, fd, port
		}
		s.buf[0] = 0x80 // RTP version 2
		s.buf[1] = 0    // PCMU
		binary.BigEndian.PutUint32(s.buf[8:12], uint32(i)+1)
		for j := rtpHeader + 20; j < packetLen; j++ {
			s.buf[j] = 0xff // mu-law silence
		}
		g.streams = append(g.streams, s)
	}
	return g, nil
}

// start launches the sender loop and the receiver.
func (g *generator) start() {
	g.wg.Add(2)
	go g.receive()
	go g.send()
}

func (g *generator) send() {
	defer g.wg.Done()
	tick := time.NewTicker(slotLen)
	defer tick.Stop()
	next := int64(0) // next slot (slotLens since base) to send
	for {
		select {
		case <-g.stop:
			return
		case <-tick.C:
		}
		now := time.Since(g.base)
		due := int64(now / slotLen)
		if lag := int64(now) - next*int64(slotLen); next <= due && lag > g.maxLag.Load() && g.measuring.Load() != 0 {
			g.maxLag.Store(lag)
		}
		for ; next <= due; next++ {
			slot := uint32(next % slots)
			for i := slot; i < uint32(len(g.streams)); i += slots {
				g.sendOne(g.streams[i])
			}
		}
	}
}

func (g *generator) sendOne(s *stream) {
	var dst *netip.AddrPort
	var out *packetOut
	if s.conn != nil {
		if dst = s.dst.Load(); dst == nil {
			return
		}
	} else if out = s.out.Load(); out == nil {
		return
	}
	epoch := g.epoch.Load()
	// Whether the packet counts is decided before it leaves: a receiver
	// that counts it must never find it uncounted on the sending side (a
	// sender descheduled after the write would otherwise make received
	// exceed sent).
	counted := epoch == g.measuring.Load()
	s.seq++
	s.ts += payloadLen
	s.count++
	binary.BigEndian.PutUint16(s.buf[2:4], s.seq)
	binary.BigEndian.PutUint32(s.buf[4:8], s.ts)
	p := s.buf[rtpHeader:]
	binary.BigEndian.PutUint64(p[0:8], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint32(p[8:12], s.id)
	binary.BigEndian.PutUint32(p[12:16], epoch)
	binary.BigEndian.PutUint32(p[16:20], s.count)
	var err error
	if out != nil {
		_, err = out.w.Write(s.buf[:])
	} else {
		_, err = s.conn.WriteToUDPAddrPort(s.buf[:], *dst)
	}
	if err == nil && counted {
		g.sent.Add(1)
		g.sentDir[g.direction(s.id)].Add(1)
	}
}

// direction is 0 or 1 for a packet sent by stream id (see split).
func (g *generator) direction(id uint32) int {
	if g.split > 0 && id >= g.split {
		return 1
	}
	return 0
}

// receive reads every stream's socket from one goroutine blocked in
// epoll_wait: a goroutine per socket costs a wake-up per packet, which at
// 1,000 calls (100,000 packets/s) saturates the load core and would make
// the relay look slow. It returns when stop is closed.
func (g *generator) receive() {
	defer g.wg.Done()
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		g.recvErr.Store(fmt.Errorf("epoll create: %w", err))
		return
	}
	defer syscall.Close(epfd)
	for i, s := range g.streams {
		if s.conn == nil {
			continue // virtual: received elsewhere
		}
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(i)}
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
			g.recvErr.Store(fmt.Errorf("epoll add: %w", err))
			return
		}
	}
	// Park on the epoll fd through the runtime's poller, as a socket read
	// would: a goroutine blocked in epoll_wait itself holds the only P
	// (GOMAXPROCS=1 on the load core) until sysmon takes it back, which
	// stalls the sender by milliseconds.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		g.recvErr.Store(fmt.Errorf("epoll nonblock: %w", err))
		return
	}
	dup, err := syscall.Dup(epfd)
	if err != nil {
		g.recvErr.Store(fmt.Errorf("epoll dup: %w", err))
		return
	}
	file := os.NewFile(uintptr(dup), "rtp-epoll")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		g.recvErr.Store(fmt.Errorf("epoll raw conn: %w", err))
		return
	}
	go func() {
		<-g.stop
		file.Close() // wakes the Read below with an error
	}()
	events := make([]syscall.EpollEvent, 256)
	var rd arrivalReader
	drain := func(uintptr) bool {
		for {
			n, err := syscall.EpollWait(epfd, events, 0)
			if err != nil || n <= 0 {
				return false
			}
			for _, ev := range events[:n] {
				// The sockets are non-blocking (Go's): read until EAGAIN.
				for {
					pkt, at, ok := rd.read(g.streams[ev.Fd].fd)
					if !ok {
						break
					}
					g.count(pkt, at)
				}
			}
		}
	}
	for {
		if err := rc.Read(drain); err != nil {
			return
		}
	}
}

// count records one received packet that arrived at at (Unix ns).
func (g *generator) count(buf []byte, at int64) {
	if len(buf) != packetLen {
		return
	}
	g.countPayload(buf[rtpHeader:], at)
}

// countRTP records one received RTP packet whose header may carry CSRCs,
// an extension or padding (a packet that went through a WebRTC stack).
func (g *generator) countRTP(pkt []byte) {
	if p, ok := rtpPayload(pkt); ok {
		g.countPayload(p, time.Now().UnixNano())
	}
}

// rtpPayload returns the payload of an RTP packet (RFC 3550 section 5.1):
// after the fixed header, CSRCs and extension, before any padding.
func rtpPayload(pkt []byte) ([]byte, bool) {
	if len(pkt) < rtpHeader || pkt[0]>>6 != 2 {
		return nil, false
	}
	off := rtpHeader + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 {
		if len(pkt) < off+4 {
			return nil, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:off+4]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 && end > 0 {
		end -= int(pkt[end-1])
	}
	if off > end {
		return nil, false
	}
	return pkt[off:end], true
}

// countPayload records one received payload of the generator's format
// that arrived at at (Unix ns).
func (g *generator) countPayload(p []byte, at int64) {
	if len(p) != payloadLen {
		return
	}
	epoch := binary.BigEndian.Uint32(p[12:16])
	if epoch == 0 || epoch != g.measuring.Load() {
		return
	}
	from := binary.BigEndian.Uint32(p[8:12])
	if int(from) >= len(g.highest) {
		return
	}
	g.recv.Add(1)
	g.recvDir[g.direction(from)].Add(1)
	lat := time.Duration(at - int64(binary.BigEndian.Uint64(p[0:8])))
	g.hist[min(max(int(lat/histBucket), 0), histBuckets)].Add(1)
	c := binary.BigEndian.Uint32(p[16:20]) + 1
	if c < g.highest[from].Load() {
		g.reordered.Add(1)
	} else {
		g.highest[from].Store(c)
	}
}

// measure counts the packets sent during window (and received, however
// late, within grace after it).
func (g *generator) measure(window, grace time.Duration) mediaCounts {
	for i := range g.hist {
		g.hist[i].Store(0)
	}
	g.sent.Store(0)
	g.recv.Store(0)
	for i := range g.sentDir {
		g.sentDir[i].Store(0)
		g.recvDir[i].Store(0)
	}
	g.reordered.Store(0)
	g.maxLag.Store(0)
	e := g.epoch.Load() + 1
	g.measuring.Store(e)
	g.epoch.Store(e)
	start := time.Now()
	time.Sleep(window)
	g.epoch.Store(e + 1)
	elapsed := time.Since(start)
	time.Sleep(grace)
	c := mediaCounts{
		window:    elapsed,
		sent:      g.sent.Load(),
		recv:      g.recv.Load(),
		reordered: g.reordered.Load(),
		maxLag:    time.Duration(g.maxLag.Load()),
	}
	for i := range g.sentDir {
		c.sentDir[i] = g.sentDir[i].Load()
		c.recvDir[i] = g.recvDir[i].Load()
	}
	g.measuring.Store(0)
	c.p50, c.p99, c.max = g.latency()
	return c
}

// mediaCounts is what one measurement window saw.
type mediaCounts struct {
	window     time.Duration
	sent, recv uint64
	// sentDir and recvDir count by direction (see generator.split):
	// received is by the direction the packet was sent in.
	sentDir, recvDir [2]uint64
	reordered        uint64
	p50, p99, max    time.Duration
	maxLag           time.Duration
}

// latency returns percentiles of the histogram (bucket upper bounds).
func (g *generator) latency() (p50, p99, maxLat time.Duration) {
	var total uint64
	for i := range g.hist {
		total += g.hist[i].Load()
	}
	if total == 0 {
		return 0, 0, 0
	}
	var cum uint64
	for i := range g.hist {
		n := g.hist[i].Load()
		if n == 0 {
			continue
		}
		cum += n
		upper := time.Duration(i+1) * histBucket
		if p50 == 0 && cum*100 >= total*50 {
			p50 = upper
		}
		if p99 == 0 && cum*100 >= total*99 {
			p99 = upper
		}
		maxLat = upper
	}
	return p50, p99, maxLat
}

// silence stops every stream from sending.
func (g *generator) silence() {
	for _, s := range g.streams {
		s.dst.Store(nil)
		s.out.Store(nil)
	}
}

// close stops the loops and then closes the sockets: the receiver reads
// their descriptors directly and must be gone first.
func (g *generator) close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
	for _, s := range g.streams {
		if s.conn != nil {
			s.conn.Close()
		}
	}
}

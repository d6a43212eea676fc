//go:build linux

package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// On Linux the relay does not park a goroutine per socket. Every socket is
// a raw non-blocking UDP socket registered (level-triggered) in the epoll
// instance of one of a few poll loops, and each loop is one goroutine that
// parks on its epoll descriptor through the Go runtime's own poller (the
// epoll fd is itself pollable). A loop reads every ready socket into its one
// buffer and relays the packets: a session costs no goroutine and no buffer
// of its own, and one wake-up handles as many packets as are ready.
//
// There is one loop per GOMAXPROCS, started with the first session assigned
// to it and stopped when its last session ends.

// pollEvents bounds how many ready sockets one epoll_wait returns.
const pollEvents = 128

// udpSock is one bound, non-blocking UDP socket outside the Go runtime's
// poller. Only its session's poll loop reads it; the loop and PlayA write to
// it.
type udpSock struct {
	mu     sync.RWMutex // writers hold it shared; Close holds it exclusively
	fd     int
	closed bool
	v6     bool
}

// listenUDP binds a UDP socket to ap. network is "udp4" or "udp6"; a udp6
// socket is IPv6-only, as net.ListenUDP("udp6", ...) makes it.
func listenUDP(network string, ap netip.AddrPort) (*udpSock, error) {
	family := syscall.AF_INET
	if network == "udp6" {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	var sa syscall.Sockaddr
	if family == syscall.AF_INET6 {
		if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1); err != nil {
			_ = syscall.Close(fd)
			return nil, fmt.Errorf("set ipv6 only: %w", err)
		}
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	} else {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", ap, err)
	}
	return &udpSock{fd: fd, v6: family == syscall.AF_INET6}, nil
}

// Close closes the socket once; later calls return nil. A write in flight
// finishes first, so the descriptor number is never reused under it.
func (u *udpSock) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	if err := syscall.Close(u.fd); err != nil {
		return fmt.Errorf("close udp socket: %w", err)
	}
	return nil
}

// WriteToUDPAddrPort sends b to to without allocating. A full socket buffer
// is an error (EAGAIN), not a wait: a late RTP packet is worth nothing.
func (u *udpSock) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	u.mu.RLock()
	defer u.mu.RUnlock()
	if u.closed {
		return 0, net.ErrClosed
	}
	var (
		sa4   syscall.RawSockaddrInet4
		sa6   syscall.RawSockaddrInet6
		ptr   unsafe.Pointer
		salen uintptr
	)
	port := to.Port()
	if u.v6 {
		sa6.Family = syscall.AF_INET6
		sa6.Addr = to.Addr().As16()
		*(*[2]byte)(unsafe.Pointer(&sa6.Port)) = [2]byte{byte(port >> 8), byte(port)}
		ptr, salen = unsafe.Pointer(&sa6), syscall.SizeofSockaddrInet6
	} else {
		a := to.Addr().Unmap()
		if !a.Is4() {
			return 0, syscall.EAFNOSUPPORT
		}
		sa4.Family = syscall.AF_INET
		sa4.Addr = a.As4()
		*(*[2]byte)(unsafe.Pointer(&sa4.Port)) = [2]byte{byte(port >> 8), byte(port)}
		ptr, salen = unsafe.Pointer(&sa4), syscall.SizeofSockaddrInet4
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(u.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))),
		uintptr(len(b)), 0, uintptr(ptr), salen)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// recvFrom reads one datagram into buf without allocating. ok is false when
// nothing is waiting (EAGAIN) or the read failed. Only the poll loop calls
// it, and only while the socket is registered, so it is never closed under
// the read.
func (u *udpSock) recvFrom(buf []byte) (n int, src netip.AddrPort, ok bool) {
	var rsa syscall.RawSockaddrAny
	l := uint32(syscall.SizeofSockaddrAny)
	r, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(u.fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))),
		uintptr(len(buf)), 0, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)))
	if errno != 0 {
		return 0, netip.AddrPort{}, false
	}
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		src = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		src = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	}
	return int(r), src, true
}

// sessionPoll is a session's part of the poller: the loop serving it.
type sessionPoll struct {
	loop *pollLoop
}

// endpointPoll is a socket's part of the poller: its slot in the loop.
type endpointPoll struct {
	slot       int32
	registered bool
}

// poller spreads sessions over its poll loops.
type poller struct {
	mu    sync.Mutex
	loops []*pollLoop
	next  int
}

func newPoller() *poller {
	n := max(1, runtime.GOMAXPROCS(0))
	p := &poller{loops: make([]*pollLoop, n)}
	for i := range p.loops {
		p.loops[i] = &pollLoop{}
	}
	return p
}

// pollLoop is one epoll instance and the goroutine that serves it.
type pollLoop struct {
	// mu is held by the loop goroutine while it handles a batch of events,
	// so that a session removed under mu is never touched again.
	mu    sync.Mutex
	epfd  int      // -1 or 0 when not running (see file)
	file  *os.File // the epoll fd as the runtime poller sees it; nil when not running
	done  chan struct{}
	slots []*endpoint // epoll data names a slot and its generation
	gens  []uint32
	free  []int32
	n     int // registered sockets
}

// add registers the session's four sockets with one loop, starting the
// loop if it is not running.
func (p *poller) add(s *Session) error {
	p.mu.Lock()
	l := p.loops[p.next]
	p.next = (p.next + 1) % len(p.loops)
	p.mu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		if err := l.startLocked(); err != nil {
			return err
		}
	}
	eps := s.endpoints()
	for i, e := range eps {
		if err := l.registerLocked(e); err != nil {
			for _, r := range eps[:i] {
				l.unregisterLocked(r)
			}
			return err
		}
	}
	s.poll.loop = l
	return nil
}

// remove unregisters the session's sockets. When it returns, the loop no
// longer reads or writes them, and the caller may close them. A loop left
// with no sockets is stopped.
func (p *poller) remove(s *Session) {
	l := s.poll.loop
	if l == nil {
		return
	}
	l.mu.Lock()
	for _, e := range s.endpoints() {
		l.unregisterLocked(e)
	}
	var file *os.File
	var done chan struct{}
	if l.n == 0 {
		file, done = l.file, l.done
		l.file, l.done, l.epfd = nil, nil, -1
	}
	l.mu.Unlock()
	if file != nil {
		// Close outside mu: it waits for the loop's read to return, and the
		// loop takes mu while it handles events.
		_ = file.Close()
		<-done
	}
}

func (l *pollLoop) startLocked() error {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll create: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return fmt.Errorf("epoll nonblock: %w", err)
	}
	// A non-blocking descriptor given to os.NewFile joins the runtime
	// poller, so the loop parks like any goroutine blocked on a socket.
	file := os.NewFile(uintptr(epfd), "media-epoll")
	rc, err := file.SyscallConn()
	if err != nil {
		_ = file.Close()
		return fmt.Errorf("epoll raw conn: %w", err)
	}
	l.epfd, l.file, l.done = epfd, file, make(chan struct{})
	go l.run(rc, epfd, l.done)
	return nil
}

func (l *pollLoop) registerLocked(e *endpoint) error {
	var slot int32
	if n := len(l.free); n > 0 {
		slot = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		slot = int32(len(l.slots))
		l.slots = append(l.slots, nil)
		l.gens = append(l.gens, 0)
	}
	l.gens[slot]++
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: slot, Pad: int32(l.gens[slot])}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, e.conn.fd, &ev); err != nil {
		l.free = append(l.free, slot)
		return fmt.Errorf("epoll add %s %s socket: %w", e.side, e.kind(), err)
	}
	l.slots[slot] = e
	e.poll.slot = slot
	e.poll.registered = true
	l.n++
	return nil
}

func (l *pollLoop) unregisterLocked(e *endpoint) {
	if !e.poll.registered {
		return
	}
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, e.conn.fd, nil)
	l.slots[e.poll.slot] = nil
	l.gens[e.poll.slot]++ // events already fetched for the slot no longer match
	l.free = append(l.free, e.poll.slot)
	e.poll.registered = false
	l.n--
}

// run is the loop goroutine: it drains the epoll instance, relays what the
// ready sockets hold, and parks until the runtime poller sees the epoll fd
// readable again. It ends when file is closed.
func (l *pollLoop) run(rc syscall.RawConn, epfd int, done chan struct{}) {
	defer close(done)
	buf := make([]byte, readBuf)
	h := newHeader()
	events := make([]syscall.EpollEvent, pollEvents)
	handle := func(uintptr) bool {
		for {
			n, err := syscall.EpollWait(epfd, events, 0)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil || n <= 0 {
				return false // park; a close wakes us with an error
			}
			l.mu.Lock()
			for i := range events[:n] {
				ev := &events[i]
				slot := ev.Fd
				if int(slot) >= len(l.slots) || l.gens[slot] != uint32(ev.Pad) {
					continue
				}
				e := l.slots[slot]
				if e == nil {
					continue
				}
				// One packet per event: a G.711 socket rarely holds more,
				// and reading on to EAGAIN would cost a syscall per packet.
				// The socket is level-triggered, so the next epoll_wait
				// returns it again if it does.
				if m, src, ok := e.conn.recvFrom(buf); ok {
					e.s.relay(e, h, buf[:m], src)
				}
			}
			l.mu.Unlock()
		}
	}
	for {
		if err := rc.Read(handle); err != nil {
			return
		}
	}
}

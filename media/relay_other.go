//go:build !linux

package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// Outside Linux the relay keeps the portable design: one goroutine per
// socket blocked in ReadFromUDPAddrPort, each with its own buffer and RTP
// header. Linux (relay_linux.go) serves all sockets from a few epoll loops.

// udpSock is one bound UDP socket.
type udpSock struct {
	c *net.UDPConn
}

// listenUDP binds a UDP socket to ap on network "udp4" or "udp6".
func listenUDP(network string, ap netip.AddrPort) (*udpSock, error) {
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", ap, err)
	}
	return &udpSock{c: c}, nil
}

// Close closes the socket; closing it again returns nil.
func (u *udpSock) Close() error {
	if err := u.c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close udp socket: %w", err)
	}
	return nil
}

// WriteToUDPAddrPort sends b to to.
func (u *udpSock) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return u.c.WriteToUDPAddrPort(b, to)
}

// sessionPoll is a session's part of the poller: its reader goroutines.
type sessionPoll struct {
	readers sync.WaitGroup
	started bool
}

// endpointPoll is a socket's part of the poller: nothing here.
type endpointPoll struct{}

// poller starts and stops the per-socket goroutines of sessions.
type poller struct{}

func newPoller() *poller { return &poller{} }

// add starts one reader goroutine per socket of s.
func (p *poller) add(s *Session) error {
	s.poll.started = true
	for _, e := range s.endpoints() {
		s.poll.readers.Go(func() { readLoop(e) })
	}
	return nil
}

// remove closes the session's sockets and waits for its readers to exit.
func (p *poller) remove(s *Session) {
	if !s.poll.started {
		return
	}
	for _, e := range s.endpoints() {
		_ = e.conn.Close()
	}
	s.poll.readers.Wait()
}

// readLoop is one socket's goroutine. Its buffer and RTP header are its own
// and reused for every packet.
func readLoop(e *endpoint) {
	buf := make([]byte, readBuf)
	h := newHeader()
	for {
		n, src, err := e.conn.c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		e.s.relay(e, h, buf[:n], src)
	}
}

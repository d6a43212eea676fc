package media

import (
	"fmt"
	"net/netip"
	"sync"
)

// portPool hands out even RTP ports (RTCP is always RTP+1) from a fixed range.
//
// A port pair is marked in use while a Session holds it. Ports that another
// process has already bound are skipped: the pool learns that only by trying
// to bind, so allocation and binding happen together in bindPair.
type portPool struct {
	network string     // "udp4" or "udp6", matching the bind address
	ip      netip.Addr // address the sockets bind to
	first   int        // lowest even RTP port
	count   int        // number of RTP/RTCP pairs in the range

	mu   sync.Mutex
	next int    // index of the pair to try first, so ports rotate
	used []bool // used[i] is true while pair i (port first+2*i) is held
}

// newPortPool returns a pool for the even ports in [minPort, maxPort] whose
// RTCP port (+1) also lies in the range.
func newPortPool(ip netip.Addr, minPort, maxPort int) (*portPool, error) {
	if minPort < 1 || maxPort > 65535 || minPort > maxPort {
		return nil, fmt.Errorf("port range %d-%d: %w", minPort, maxPort, errBadPortRange)
	}
	first := minPort + minPort%2
	count := 0
	if maxPort-1 >= first {
		count = (maxPort-1-first)/2 + 1
	}
	if count == 0 {
		return nil, fmt.Errorf("port range %d-%d holds no even RTP port with RTCP port: %w",
			minPort, maxPort, errBadPortRange)
	}
	network := "udp4"
	if ip.Is6() && !ip.Is4In6() {
		network = "udp6"
	}
	return &portPool{
		network: network,
		ip:      ip.Unmap(),
		first:   first,
		count:   count,
		used:    make([]bool, count),
	}, nil
}

// bindPair binds an RTP socket on a free even port and an RTCP socket on the
// port above it. It skips pairs this pool already lent out and pairs where
// either bind fails (another process holds the port). It returns ErrNoPorts
// when every pair has been tried.
func (p *portPool) bindPair() (rtpConn, rtcpConn *udpSock, port int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for tried := 0; tried < p.count; tried++ {
		i := (p.next + tried) % p.count
		if p.used[i] {
			continue
		}
		port = p.first + 2*i
		rtpConn, err = listenUDP(p.network, netip.AddrPortFrom(p.ip, uint16(port)))
		if err != nil {
			continue
		}
		rtcpConn, err = listenUDP(p.network, netip.AddrPortFrom(p.ip, uint16(port+1)))
		if err != nil {
			_ = rtpConn.Close()
			continue
		}
		p.used[i] = true
		p.next = (i + 1) % p.count
		return rtpConn, rtcpConn, port, nil
	}
	return nil, nil, 0, ErrNoPorts
}

// release returns the pair starting at RTP port port to the pool. The caller
// must have closed both sockets.
func (p *portPool) release(port int) {
	i := (port - p.first) / 2
	if port < p.first || i >= p.count || (port-p.first)%2 != 0 {
		return
	}
	p.mu.Lock()
	p.used[i] = false
	p.mu.Unlock()
}

// inUse reports how many pairs are lent out.
func (p *portPool) inUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, u := range p.used {
		if u {
			n++
		}
	}
	return n
}

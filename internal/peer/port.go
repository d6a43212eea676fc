package peer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Ports handed out by this process are never handed out again, so parallel
// tests in one binary cannot collide even though a port is only free until
// someone binds it.
var (
	portMu   sync.Mutex
	reserved = map[int]bool{}
)

// Fixed ranges (baresip's rtp_ports, SIPp's media ports) are taken from below
// Linux's ephemeral range (32768-60999), where port-0 binds never land.
const (
	rangeLow  = 20000
	rangeHigh = 32000
)

// FreeUDPPort returns a UDP port on 127.0.0.1 that is free now and that this
// process has not handed out before.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	return freePort(t, func(p int) bool { return udpFree(p) })
}

// FreeTCPPort returns a TCP port on 127.0.0.1 that is free now and that this
// process has not handed out before.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	return freePort(t, func(p int) bool { return tcpFree(p) })
}

// FreeSIPPort returns a port free for both UDP and TCP, with port+1 free for
// TCP too (baresip listens on all of them; SIPp uses one of the two
// transports). Both p and p+1 are reserved.
func FreeSIPPort(t testing.TB) int {
	t.Helper()
	return freePort(t, func(p int) bool {
		if reserved[p+1] || !udpFree(p) || !tcpFree(p) || !tcpFree(p+1) {
			return false
		}
		reserved[p+1] = true
		return true
	})
}

// FreePortRange returns the first of n consecutive ports that are free for UDP
// on every address (as baresip's RTP sockets bind 0.0.0.0), all reserved.
func FreePortRange(t testing.TB, n int) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 200 {
		first := rangeLow + rand.IntN(rangeHigh-rangeLow-n)
		ok := true
		for p := first; p < first+n && ok; p++ {
			ok = !reserved[p] && udpFreeAny(p)
		}
		if !ok {
			continue
		}
		for p := first; p < first+n; p++ {
			reserved[p] = true
		}
		return first
	}
	t.Fatalf("peer: no %d consecutive free UDP ports in %d-%d", n, rangeLow, rangeHigh)
	return 0
}

func freePort(t testing.TB, usable func(int) bool) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 100 {
		l, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("peer: find a free port: %v", err)
		}
		p := l.LocalAddr().(*net.UDPAddr).Port
		l.Close()
		if reserved[p] || !usable(p) {
			continue
		}
		reserved[p] = true
		return p
	}
	t.Fatal("peer: no free port found in 100 tries")
	return 0
}

func udpFree(p int) bool {
	l, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func udpFreeAny(p int) bool {
	l, err := net.ListenPacket("udp4", ":"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func tcpFree(p int) bool {
	l, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// errNoProcNet means the socket tables under /proc/net cannot be read.
var errNoProcNet = errors.New("cannot read /proc/net")

// portBound reports whether some socket is bound to port (UDP) or listens on
// it (TCP), from the kernel's socket tables. Reading them, unlike probing with
// a bind, never steals the port from a process that is about to bind it.
func portBound(network string, port int) (bool, error) {
	files := map[string][]string{
		"udp": {"/proc/net/udp", "/proc/net/udp6"},
		"tcp": {"/proc/net/tcp", "/proc/net/tcp6"},
	}[network]
	want := fmt.Sprintf(":%04X", port)
	read := false
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		read = true
		found := false
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || !strings.HasSuffix(fields[1], want) {
				continue
			}
			// TCP state 0A is LISTEN; a UDP socket has no listen state.
			if network == "udp" || fields[3] == "0A" {
				found = true
				break
			}
		}
		f.Close()
		if found {
			return true, nil
		}
	}
	if !read {
		return false, errNoProcNet
	}
	return false, nil
}

// waitBound waits until port is bound (see portBound) or exited is closed.
// Without /proc it waits a fixed short time, the best it can do.
func waitBound(ctx context.Context, network string, port int, exited <-chan struct{}) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := portBound(network, port)
		if errors.Is(err, errNoProcNet) {
			select {
			case <-time.After(300 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if ok {
			return nil
		}
		select {
		case <-tick.C:
		case <-exited:
			return fmt.Errorf("process exited before binding %s port %d", network, port)
		case <-ctx.Done():
			return fmt.Errorf("wait for %s port %d: %w", network, port, ctx.Err())
		}
	}
}

package peer

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

func TestFreePortsAreDistinctAndUsable(t *testing.T) {
	t.Parallel()
	seen := map[int]string{}
	note := func(p int, what string) {
		if prev, ok := seen[p]; ok {
			t.Errorf("port %d handed out twice (%s and %s)", p, prev, what)
		}
		seen[p] = what
	}
	for range 20 {
		note(FreeUDPPort(t), "udp")
		note(FreeTCPPort(t), "tcp")
		p := FreeSIPPort(t)
		note(p, "sip")
		note(p+1, "sip+1")
	}
	first := FreePortRange(t, 10)
	for p := first; p < first+10; p++ {
		note(p, "range")
	}
	if first < rangeLow || first+10 > rangeHigh {
		t.Errorf("range %d+10 outside %d-%d", first, rangeLow, rangeHigh)
	}
	l, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(FreeUDPPort(t)))
	if err != nil {
		t.Fatalf("bind a free udp port: %v", err)
	}
	l.Close()
}

func TestPortBound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		network string
		listen  func() (net.Addr, func(), error)
	}{
		{"udp", func() (net.Addr, func(), error) {
			c, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				return nil, nil, err
			}
			return c.LocalAddr(), func() { c.Close() }, nil
		}},
		{"tcp", func() (net.Addr, func(), error) {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				return nil, nil, err
			}
			return l.Addr(), func() { l.Close() }, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.network, func(t *testing.T) {
			t.Parallel()
			addr, closeFn, err := tc.listen()
			if err != nil {
				t.Fatal(err)
			}
			_, portStr, _ := net.SplitHostPort(addr.String())
			port, _ := strconv.Atoi(portStr)
			ok, err := portBound(tc.network, port)
			if err == errNoProcNet {
				t.Skip("no /proc/net on this system")
			}
			if err != nil || !ok {
				t.Fatalf("portBound(%s, %d) = %v, %v; want true", tc.network, port, ok, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := waitBound(ctx, tc.network, port, nil); err != nil {
				t.Fatal(err)
			}
			closeFn()
			if ok, _ := portBound(tc.network, port); ok {
				t.Errorf("portBound(%s, %d) = true after close", tc.network, port)
			}
		})
	}
}

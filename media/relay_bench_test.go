package media

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// loadSessions is how many started sessions the load benchmarks relay
// through, as in a busy relay with packets from many calls at once.
const loadSessions = 200

// startLoad starts n sessions whose caller side is fed by one sender
// socket and whose agent side all send to one sink socket. It returns the
// sessions' caller-side addresses.
func startLoad(b *testing.B, n int) (sender, sink *net.UDPConn, dsts []netip.AddrPort) {
	b.Helper()
	tb := setup(b, 2*n, time.Minute)
	snd, snk := newPhone(b), newPhone(b)
	for _, c := range []*net.UDPConn{snd.conn, snk.conn} {
		if err := c.SetReadBuffer(4 << 20); err != nil {
			b.Fatal(err)
		}
		if err := c.SetWriteBuffer(4 << 20); err != nil {
			b.Fatal(err)
		}
	}
	pkt := rtpPacket(b, 1, 1)
	for range n {
		s := tb.newSession(b)
		s.SetRemoteA(snd.addr())
		s.SetRemoteB(snk.addr())
		s.Start(b.Context())
		dsts = append(dsts, s.LocalA())
		snd.send(s.LocalA(), pkt) // latch
		snk.recv()
	}
	return snd.conn, snk.conn, dsts
}

// BenchmarkRelayLoad sends a burst of one packet to each of 200 sessions and
// reads them all back: ns/op is the relay's cost per packet when many calls
// are active, with the sender and the sink on the same machine.
func BenchmarkRelayLoad(b *testing.B) {
	sender, sink, dsts := startLoad(b, loadSessions)
	pkt := rtpPacket(b, 2, 1)
	buf := make([]byte, 2048)
	if err := sink.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	const burst = 32
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for i < b.N {
		k := min(burst, b.N-i)
		for j := range k {
			if _, err := sender.WriteToUDPAddrPort(pkt, dsts[(i+j)%len(dsts)]); err != nil {
				b.Fatal(err)
			}
		}
		for range k {
			if _, _, err := sink.ReadFromUDPAddrPort(buf); err != nil {
				b.Fatal(err)
			}
		}
		i += k
	}
}

// BenchmarkSessionMemory starts b.N relaying sessions (up to a cap) and
// reports the Go heap and stacks and the goroutines each one holds once it
// has latched, after a GC.
func BenchmarkSessionMemory(b *testing.B) {
	const n = 500
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	startLoad(b, n)
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	for b.Loop() {
		// The figures are per session, not per iteration.
	}
	b.ReportMetric(float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse))/1024/n, "KB/session")
	b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/1024/n, "stackKB/session")
	b.ReportMetric(float64(g1-g0)/n, "goroutines/session")
}

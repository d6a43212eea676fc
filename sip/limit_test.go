package sip

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestSourceLimiter(t *testing.T) {
	t.Parallel()
	trunk := netip.MustParsePrefix("192.0.2.0/24")
	l := newSourceLimiter(1, 3, trunk.Contains, zerolog.Nop())
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

	for i := range 3 {
		if !l.allow("203.0.113.9:5060", t0) {
			t.Fatalf("request %d within the burst was dropped", i+1)
		}
	}
	if l.allow("203.0.113.9:5061", t0) {
		t.Fatal("request over the burst from the same address was allowed")
	}
	if !l.allow("203.0.113.10:5060", t0) {
		t.Fatal("another address shares the flooder's bucket")
	}
	if !l.allow("203.0.113.9:5060", t0.Add(1100*time.Millisecond)) {
		t.Fatal("the bucket did not refill after a second")
	}
	for range 1000 {
		if !l.allow("192.0.2.7:5060", t0) {
			t.Fatal("a trunk was limited")
		}
	}
	if !l.allow("[::ffff:192.0.2.7]:5060", t0) {
		t.Fatal("a trunk's IPv4-mapped address was limited")
	}
	if !l.allow("not an address", t0) {
		t.Fatal("an unparsable source was dropped (it cannot be told apart)")
	}
	// Idle sources are forgotten.
	l.allow("198.51.100.1:5060", t0.Add(limiterIdle+time.Hour))
	l.mu.Lock()
	n := len(l.sources)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d sources kept after they went idle, want only the latest", n)
	}
}

func BenchmarkSourceLimiter(b *testing.B) {
	l := newSourceLimiter(1e9, 1e9, func(netip.Addr) bool { return false }, zerolog.Nop())
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		l.allow("203.0.113.9:5060", now)
	}
}

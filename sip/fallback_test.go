package sip

import (
	"testing"
	"time"
)

func TestNoCallbacksCache(t *testing.T) {
	t.Parallel()
	var n noCallbacks
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	if n.known("+4930123456", t0) {
		t.Fatal("empty cache knows a number")
	}
	n.remember("+4930123456", t0)
	if !n.known("+4930123456", t0.Add(noCallbackTTL-time.Second)) {
		t.Fatal("number forgotten within the TTL")
	}
	if n.known("+4930123456", t0.Add(noCallbackTTL)) {
		t.Fatal("number still known after the TTL")
	}
	n.remember("+4930123456", t0)
	n.forget("+4930123456")
	if n.known("+4930123456", t0) {
		t.Fatal("a booking did not clear the number")
	}
	n.remember("+4940000000", t0)
	n.remember("+4950000000", t0.Add(2*noCallbackTTL)) // sweeps the expired entry
	n.mu.Lock()
	size := len(n.until)
	n.mu.Unlock()
	if size != 1 {
		t.Fatalf("%d entries kept, want the expired one swept", size)
	}
}

package main

import (
	"net"
	"testing"
	"time"
)

// A datagram read late still carries the time it arrived, not the time it
// was read. The kernel switches arrival stamps on lazily (a deferred work
// item after the first socket asks), and until then stamps at the read; so
// the test sends until a stamp shows, for at most two seconds. The margin
// is wide: loopback delivery may be deferred to a softirq, so the stamp may
// come a little after the send returns, but not near the read 20 ms later.
func TestArrivalReaderKernelStamp(t *testing.T) {
	t.Parallel()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fd, err := timestampArrivals(c)
	if err != nil {
		t.Fatal(err)
	}
	const late = 20 * time.Millisecond
	var rd arrivalReader
	var at, before, read int64
	for tries := 0; tries < 100; tries++ {
		before = time.Now().UnixNano()
		if _, err := c.WriteToUDP([]byte("stamped"), c.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(late)
		read = time.Now().UnixNano()
		pkt, stamp, ok := rd.read(fd)
		if !ok || string(pkt) != "stamped" {
			t.Fatalf("read %q ok=%v", pkt, ok)
		}
		if at = stamp; at >= before && at <= read-int64(late/2) {
			return
		}
	}
	t.Errorf("arrival %s after the send began and %s before the read: not the kernel's stamp",
		time.Duration(at-before), time.Duration(read-at))
}

package main

import (
	"net"
	"testing"
	"time"
)

// A datagram read late still carries the time it arrived, not the time it
// was read.
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
	if _, err := c.WriteToUDP([]byte("stamped"), c.LocalAddr().(*net.UDPAddr)); err != nil {
		t.Fatal(err)
	}
	sent := time.Now().UnixNano()
	const late = 50 * time.Millisecond
	time.Sleep(late)
	var (
		rd  arrivalReader
		pkt []byte
		at  int64
		ok  bool
	)
	pkt, at, ok = rd.read(fd)
	read := time.Now().UnixNano()
	if !ok || string(pkt) != "stamped" {
		t.Fatalf("read %q ok=%v", pkt, ok)
	}
	if at > sent+int64(late/2) || read-at < int64(late) {
		t.Errorf("arrival %s after the send and %s before the read: not the kernel's stamp",
			time.Duration(at-sent), time.Duration(read-at))
	}
}

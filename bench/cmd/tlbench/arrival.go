package main

import (
	"fmt"
	"net"
	"syscall"
	"time"
	"unsafe"
)

// The generator measures one-way latency from the send time in a packet's
// payload to the time the kernel queued the packet on the receiving socket
// (SO_TIMESTAMPNS), not to the time the receiver goroutine got round to
// reading it. The load core runs the sender, the receiver and SIPp on one
// P: while a send burst holds it, the packets waiting meanwhile would be
// charged to the relay under test. Both stamps are CLOCK_REALTIME. The
// kernel switches arrival stamps on lazily after the first socket asks for
// them and stamps at the read until then; the generator's sockets are open
// seconds before any window is measured.

// timestampArrivals asks the kernel to stamp every datagram c receives and
// returns c's descriptor (valid while c is open).
func timestampArrivals(c *net.UDPConn) (fd int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("raw conn: %w", err)
	}
	var serr error
	if err := rc.Control(func(d uintptr) {
		fd = int(d)
		serr = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return 0, fmt.Errorf("raw conn control: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("set SO_TIMESTAMPNS: %w", serr)
	}
	return fd, nil
}

// kernelStamp returns the SO_TIMESTAMPNS arrival time (Unix ns) in a
// received message's control data, or fallback when there is none.
func kernelStamp(h *syscall.Msghdr, oob []byte, fallback int64) int64 {
	if int(h.Controllen) < syscall.CmsgLen(int(unsafe.Sizeof(syscall.Timespec{}))) {
		return fallback
	}
	c := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if c.Level != syscall.SOL_SOCKET || c.Type != syscall.SCM_TIMESTAMPNS {
		return fallback
	}
	return (*syscall.Timespec)(unsafe.Pointer(&oob[syscall.CmsgLen(0)])).Nano()
}

// arrivalReader reads datagrams with their kernel arrival stamps, without
// allocating. One goroutine uses it at a time.
type arrivalReader struct {
	buf [2048]byte
	oob [64]byte
	iov syscall.Iovec
	msg syscall.Msghdr
}

// read returns the next datagram waiting on the non-blocking socket fd and
// when it arrived (Unix ns; the read time if the kernel gave no stamp). ok
// is false when nothing is waiting or the read failed.
func (r *arrivalReader) read(fd int) (pkt []byte, at int64, ok bool) {
	r.iov.Base = &r.buf[0]
	r.iov.SetLen(len(r.buf))
	r.msg.Iov = &r.iov
	r.msg.Iovlen = 1
	r.msg.Control = &r.oob[0]
	r.msg.SetControllen(len(r.oob))
	n, _, errno := syscall.Syscall(syscall.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.msg)), 0)
	if errno != 0 {
		return nil, 0, false
	}
	return r.buf[:n], kernelStamp(&r.msg, r.oob[:], time.Now().UnixNano()), true
}

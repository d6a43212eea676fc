package peer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// RTP payload types of G.711 (RFC 3551).
const (
	PayloadPCMU uint8 = 0
	PayloadPCMA uint8 = 8
)

const (
	rtpClockRate    = 8000
	samplesPerFrame = 160 // 20 ms at 8 kHz
	frameInterval   = 20 * time.Millisecond
	toneAmplitude   = 0.5
	defaultWait     = 30 * time.Second
)

// ErrEndpointClosed is returned by waits on an RTPEndpoint whose socket has
// been closed.
var ErrEndpointClosed = errors.New("rtp endpoint closed")

// RTPStats summarises what an RTPEndpoint received.
type RTPStats struct {
	// Packets and Bytes count every RTP packet received (Bytes: payload only).
	Packets int
	Bytes   int
	// SSRCs lists the distinct synchronisation sources in order of arrival.
	SSRCs []uint32
	// PayloadTypes lists the distinct payload types in order of arrival.
	PayloadTypes []uint8
	// FirstSeq and LastSeq are the sequence numbers of the first and the
	// latest packet.
	FirstSeq, LastSeq uint16
	// Lost estimates lost packets from the sequence numbers (expected minus
	// received, treating all packets as one stream; meaningless when several
	// SSRCs interleave). Duplicates can make it negative.
	Lost int
	// From is the source address of the latest packet.
	From netip.AddrPort
	// RMS is the level of the decoded G.711 audio (PCMU/PCMA only) relative to
	// full scale; FreqHz is its dominant frequency from zero crossings.
	RMS    float64
	FreqHz float64
	// NonSilent reports whether RMS is at least SilenceRMS.
	NonSilent bool
}

// RTPEndpoint is one UDP socket on 127.0.0.1 that receives RTP and measures
// it, and can send a G.711 tone from the same socket, as a symmetric-RTP peer
// must.
type RTPEndpoint struct {
	t    testing.TB
	conn *net.UDPConn
	addr netip.AddrPort

	mu       sync.Mutex
	st       RTPStats
	m        meter
	extFirst int64
	extLast  int64
	changed  chan struct{} // closed and replaced on a packet when waited on
	waiting  bool
	closed   bool

	sendMu     sync.Mutex
	sendCancel context.CancelFunc
	sendDone   chan struct{}
	sent       int

	recvDone chan struct{}
}

// NewRTPEndpoint binds a UDP socket on 127.0.0.1 and starts receiving. The
// socket and any sender are closed by t.Cleanup.
func NewRTPEndpoint(t testing.TB) *RTPEndpoint {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("peer: bind rtp endpoint: %v", err)
	}
	e := &RTPEndpoint{
		t:        t,
		conn:     conn,
		addr:     conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		changed:  make(chan struct{}),
		recvDone: make(chan struct{}),
	}
	go e.receive()
	t.Cleanup(e.Close)
	return e
}

// Port returns the endpoint's UDP port, to advertise in SDP.
func (e *RTPEndpoint) Port() int { return int(e.addr.Port()) }

// Addr returns the endpoint's address.
func (e *RTPEndpoint) Addr() netip.AddrPort { return e.addr }

// StartSending sends 20 ms G.711 frames of a sine tone of the given frequency
// to dst from the endpoint's socket until ctx ends, StopSending or Close. pt
// selects the encoding: PayloadPCMA for A-law, anything else is sent as
// mu-law with that payload type. Sequence numbers, timestamps and the SSRC
// start at random values as RFC 3550 asks. A running sender is replaced.
func (e *RTPEndpoint) StartSending(ctx context.Context, dst netip.AddrPort, pt uint8, tone float64) {
	e.StopSending()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	e.sendMu.Lock()
	e.sendCancel, e.sendDone = cancel, done
	e.sendMu.Unlock()
	go e.send(ctx, done, dst, pt, tone)
}

// StopSending stops the sender, if any, and waits for it to finish.
func (e *RTPEndpoint) StopSending() {
	e.sendMu.Lock()
	cancel, done := e.sendCancel, e.sendDone
	e.sendCancel, e.sendDone = nil, nil
	e.sendMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Sent returns how many packets the sender has sent so far.
func (e *RTPEndpoint) Sent() int {
	e.sendMu.Lock()
	defer e.sendMu.Unlock()
	return e.sent
}

func (e *RTPEndpoint) send(ctx context.Context, done chan struct{}, dst netip.AddrPort, pt uint8, freq float64) {
	defer close(done)
	encode := EncodeMulaw
	if pt == PayloadPCMA {
		encode = EncodeAlaw
	}
	gen := newTone(freq, rtpClockRate, toneAmplitude)
	pkt := rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			PayloadType:    pt,
			SequenceNumber: uint16(rand.Uint32()),
			Timestamp:      rand.Uint32(),
			SSRC:           rand.Uint32(),
			Marker:         true, // first packet of a talkspurt
		},
		Payload: make([]byte, samplesPerFrame),
	}
	buf := make([]byte, 12+samplesPerFrame)
	tick := time.NewTicker(frameInterval)
	defer tick.Stop()
	for {
		for i := range pkt.Payload {
			pkt.Payload[i] = encode(gen.next())
		}
		n, err := pkt.MarshalTo(buf)
		if err != nil {
			e.t.Errorf("peer: marshal rtp: %v", err)
			return
		}
		if _, err := e.conn.WriteToUDPAddrPort(buf[:n], dst); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				e.t.Logf("peer: send rtp to %s: %v", dst, err)
			}
			return
		}
		e.sendMu.Lock()
		e.sent++
		e.sendMu.Unlock()
		pkt.SequenceNumber++
		pkt.Timestamp += samplesPerFrame
		pkt.Marker = false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (e *RTPEndpoint) receive() {
	defer close(e.recvDone)
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, from, err := e.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				e.t.Logf("peer: receive rtp: %v", err)
			}
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil || pkt.Version != 2 {
			continue // not RTP (RTCP goes to another port unless muxed)
		}
		e.record(&pkt, from)
	}
}

func (e *RTPEndpoint) record(pkt *rtp.Packet, from netip.AddrPort) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := &e.st
	if !slices.Contains(st.SSRCs, pkt.SSRC) {
		st.SSRCs = append(st.SSRCs, pkt.SSRC)
	}
	if !slices.Contains(st.PayloadTypes, pkt.PayloadType) {
		st.PayloadTypes = append(st.PayloadTypes, pkt.PayloadType)
	}
	seq := pkt.SequenceNumber
	if st.Packets == 0 {
		st.FirstSeq = seq
		e.extFirst, e.extLast = int64(seq), int64(seq)
	} else {
		// Extend the 16-bit sequence number around the latest one (RFC 3550 A.1).
		delta := int64(int16(seq - uint16(e.extLast)))
		if ext := e.extLast + delta; ext > e.extLast {
			e.extLast = ext
		} else if ext < e.extFirst {
			e.extFirst = ext
		}
	}
	st.LastSeq = seq
	st.Packets++
	st.Bytes += len(pkt.Payload)
	st.From = from
	st.Lost = int(e.extLast-e.extFirst+1) - st.Packets
	switch pkt.PayloadType {
	case PayloadPCMU:
		for _, b := range pkt.Payload {
			e.m.add(DecodeMulaw(b))
		}
	case PayloadPCMA:
		for _, b := range pkt.Payload {
			e.m.add(DecodeAlaw(b))
		}
	}
	if e.waiting {
		close(e.changed)
		e.changed = make(chan struct{})
		e.waiting = false
	}
}

// Received returns a snapshot of what has been received so far.
func (e *RTPEndpoint) Received() RTPStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.st
	st.SSRCs = slices.Clone(st.SSRCs)
	st.PayloadTypes = slices.Clone(st.PayloadTypes)
	st.RMS = e.m.rms()
	st.FreqHz = e.m.freq(rtpClockRate)
	st.NonSilent = st.RMS >= SilenceRMS
	return st
}

// WaitPackets waits until at least n packets have been received. Without a
// deadline in ctx it gives up after 30 s.
func (e *RTPEndpoint) WaitPackets(ctx context.Context, n int) error {
	ctx, cancel := boundContext(ctx, defaultWait)
	defer cancel()
	for {
		e.mu.Lock()
		got, changed, closed := e.st.Packets, e.changed, e.closed
		e.waiting = true
		e.mu.Unlock()
		if got >= n {
			return nil
		}
		if closed {
			return fmt.Errorf("wait for %d rtp packets (have %d): %w", n, got, ErrEndpointClosed)
		}
		select {
		case <-changed:
		case <-e.recvDone:
			e.mu.Lock()
			e.closed = true
			e.mu.Unlock()
		case <-ctx.Done():
			return fmt.Errorf("wait for %d rtp packets on %s (have %d): %w", n, e.addr, got, ctx.Err())
		}
	}
}

// Close stops the sender and closes the socket. It is safe to call twice.
func (e *RTPEndpoint) Close() {
	e.StopSending()
	e.conn.Close()
	<-e.recvDone
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
}

// boundContext adds a timeout to ctx unless it already has a deadline.
func boundContext(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

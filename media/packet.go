package media

import (
	"encoding/binary"

	"github.com/pion/rtp"
)

const (
	rtpHeaderLen  = 12
	rtcpHeaderLen = 8
)

// newHeader returns an rtp.Header whose CSRC and extension slices already
// have room for what a packet normally carries, so that Unmarshal into it
// does not allocate. rtp.Header.Unmarshal reuses both slices' capacity; an
// unusual packet with more extension elements grows the slice once and the
// larger capacity is kept for the rest of the session.
func newHeader() *rtp.Header {
	return &rtp.Header{
		CSRC:       make([]uint32, 0, 15),
		Extensions: make([]rtp.Extension, 0, 16),
	}
}

// validRTP reports whether pkt is an RTP version 2 packet with a well-formed
// header (RFC 3550 section 5.1), parsing it into h. The size checks that
// would make rtp.Header.Unmarshal build (allocate) an error are done here
// first, so only a packet with malformed header-extension elements reaches
// Unmarshal and is rejected there.
//
// Payload types 64-95 are rejected: they are what RTCP packet types 192-223
// look like when read as RTP (RFC 5761 section 4), so a peer that multiplexes
// RTCP onto the RTP port is not relayed as media.
func validRTP(h *rtp.Header, pkt []byte) bool {
	if len(pkt) < rtpHeaderLen || pkt[0]>>6 != 2 {
		return false
	}
	if pt := pkt[1] & 0x7f; pt >= 64 && pt <= 95 {
		return false
	}
	n := rtpHeaderLen + 4*int(pkt[0]&0x0f)
	if len(pkt) < n {
		return false
	}
	if pkt[0]&0x10 != 0 { // X bit: RFC 3550 section 5.3.1
		if len(pkt) < n+4 {
			return false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(pkt[n+2:]))
		if len(pkt) < n {
			return false
		}
	}
	if pkt[0]&0x20 != 0 { // P bit: the last octet counts the padding
		pad := int(pkt[len(pkt)-1])
		if pad == 0 || len(pkt)-pad < n {
			return false
		}
	}
	if _, err := h.Unmarshal(pkt); err != nil {
		return false
	}
	return true
}

// validRTCP reports whether pkt starts with an RTCP version 2 packet whose
// type lies in the RTCP range 192-223 and whose length fits the datagram
// (RFC 3550 section 6.4, RFC 5761 section 4). Only the first packet of a
// compound packet is checked; the datagram is relayed as it is.
func validRTCP(pkt []byte) bool {
	if len(pkt) < rtcpHeaderLen || pkt[0]>>6 != 2 {
		return false
	}
	if pkt[1] < 192 || pkt[1] > 223 {
		return false
	}
	words := int(binary.BigEndian.Uint16(pkt[2:]))
	return (words+1)*4 <= len(pkt)
}

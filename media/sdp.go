package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// ErrNoAudio is returned by ParseSDP and RewriteSDP when the SDP has no
// audio m= line with a non-zero port.
var ErrNoAudio = errors.New("sdp has no active audio stream")

// ErrNoCommonCodec is returned by RewriteSDP when the audio stream offers
// neither PCMU nor PCMA, the only codecs Teamline relays.
var ErrNoCommonCodec = errors.New("sdp offers neither pcmu nor pcma")

// Names of the encodings Teamline relays (RFC 3551 section 4.5.14, RFC 4733).
const (
	CodecPCMU           = "PCMU"
	CodecPCMA           = "PCMA"
	CodecTelephoneEvent = "telephone-event"
)

// Media directions (RFC 4566 section 6).
const (
	DirectionSendRecv = "sendrecv"
	DirectionSendOnly = "sendonly"
	DirectionRecvOnly = "recvonly"
	DirectionInactive = "inactive"
)

// sdpUsername is the o= username of every SDP Teamline writes.
const sdpUsername = "teamline"

// Codec is one payload format of an audio stream.
type Codec struct {
	PT       uint8  // RTP payload type
	Name     string // encoding name as written, e.g. "PCMU", "telephone-event"
	Rate     int    // clock rate in Hz
	Channels int    // channels if the rtpmap gives them, else 0
	Fmtp     string // format parameters, e.g. "0-16"; empty if none
}

// MediaInfo describes the audio stream of an SDP.
type MediaInfo struct {
	// RTP is where the party receives RTP: the media-level c= address (or
	// the session-level one) and the m= port. The address is 0.0.0.0 for
	// an RFC 2543-style hold.
	RTP netip.AddrPort
	// RTCP is where the party receives RTCP: the RTP address itself with
	// a=rtcp-mux, else a=rtcp (RFC 3605) when present, else the RTP port
	// plus one.
	RTCP netip.AddrPort
	// RTCPMux is true when the SDP offers RTP/RTCP multiplexing (RFC 5761).
	RTCPMux bool
	// Codecs lists the m= line's payload formats in order of preference.
	Codecs []Codec
	// Direction is sendrecv, sendonly, recvonly or inactive; sendrecv when
	// the SDP says nothing.
	Direction string
}

// HasG711 reports whether the stream offers PCMU or PCMA at 8000 Hz.
func (mi MediaInfo) HasG711() bool {
	for _, c := range mi.Codecs {
		if c.relayable() && !strings.EqualFold(c.Name, CodecTelephoneEvent) {
			return true
		}
	}
	return false
}

// staticPT are the static audio payload types of RFC 3551 table 4, used when
// an m= line lists one without an a=rtpmap.
var staticPT = map[uint8]Codec{
	0:  {PT: 0, Name: "PCMU", Rate: 8000},
	3:  {PT: 3, Name: "GSM", Rate: 8000},
	4:  {PT: 4, Name: "G723", Rate: 8000},
	5:  {PT: 5, Name: "DVI4", Rate: 8000},
	6:  {PT: 6, Name: "DVI4", Rate: 16000},
	7:  {PT: 7, Name: "LPC", Rate: 8000},
	8:  {PT: 8, Name: "PCMA", Rate: 8000},
	9:  {PT: 9, Name: "G722", Rate: 8000},
	10: {PT: 10, Name: "L16", Rate: 44100, Channels: 2},
	11: {PT: 11, Name: "L16", Rate: 44100},
	12: {PT: 12, Name: "QCELP", Rate: 8000},
	13: {PT: 13, Name: "CN", Rate: 8000},
	14: {PT: 14, Name: "MPA", Rate: 90000},
	15: {PT: 15, Name: "G728", Rate: 8000},
	16: {PT: 16, Name: "DVI4", Rate: 11025},
	17: {PT: 17, Name: "DVI4", Rate: 22050},
	18: {PT: 18, Name: "G729", Rate: 8000},
}

// relayable reports whether Teamline relays this format: PCMU, PCMA or
// telephone-event, each at 8000 Hz.
func (c Codec) relayable() bool {
	if c.Rate != 8000 || c.Channels > 1 {
		return false
	}
	return strings.EqualFold(c.Name, CodecPCMU) || strings.EqualFold(c.Name, CodecPCMA) ||
		strings.EqualFold(c.Name, CodecTelephoneEvent)
}

// ParseSDP parses an SDP body and describes its first active audio stream
// (the first m=audio line with a non-zero port). It returns an error for bad
// syntax, ErrNoAudio when there is no such stream, and an error when the
// stream has no usable IP address in a c= line. Payload formats that are
// not numbers 0-127 are left out of MediaInfo.Codecs.
func ParseSDP(body []byte) (*sdp.SessionDescription, MediaInfo, error) {
	sd, _, mi, err := parseSDP(body)
	return sd, mi, err
}

// parseSDP is ParseSDP that also returns the index of the audio stream.
func parseSDP(body []byte) (*sdp.SessionDescription, int, MediaInfo, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, -1, MediaInfo{}, fmt.Errorf("parse sdp: %w", err)
	}
	// pion/sdp accepts a body that ends early (even an empty one); v=, o=,
	// s= and t= are mandatory (RFC 4566 section 5) and t= is the last of them.
	if len(sd.TimeDescriptions) == 0 {
		return nil, -1, MediaInfo{}, errors.New("parse sdp: incomplete session description: no t= line")
	}
	idx := -1
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 {
			idx = i
			break
		}
	}
	if idx < 0 {
		return nil, -1, MediaInfo{}, ErrNoAudio
	}
	md := sd.MediaDescriptions[idx]
	if md.MediaName.Port.Value < 0 || md.MediaName.Port.Value > 65535 {
		return nil, -1, MediaInfo{}, fmt.Errorf("audio port %d out of range", md.MediaName.Port.Value)
	}

	ci := md.ConnectionInformation
	if ci == nil || ci.Address == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return nil, -1, MediaInfo{}, errors.New("audio stream has no connection address")
	}
	ip, err := parseConnAddr(ci.Address.Address)
	if err != nil {
		return nil, -1, MediaInfo{}, fmt.Errorf("audio connection address: %w", err)
	}

	mi := MediaInfo{
		RTP:       netip.AddrPortFrom(ip, uint16(md.MediaName.Port.Value)),
		Direction: direction(sd.Attributes, DirectionSendRecv),
	}
	mi.Direction = direction(md.Attributes, mi.Direction)
	_, mi.RTCPMux = md.Attribute("rtcp-mux")
	mi.RTCP = rtcpAddr(md, mi.RTP, mi.RTCPMux)
	mi.Codecs = codecs(md)
	return &sd, idx, mi, nil
}

// parseConnAddr parses the address of a c= line, without a multicast TTL or
// address count ("/127/3").
func parseConnAddr(s string) (netip.Addr, error) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("not an ip address: %w", err)
	}
	if ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %q has a zone", s)
	}
	return ip.Unmap(), nil
}

// direction returns the last direction attribute in attrs, or def.
func direction(attrs []sdp.Attribute, def string) string {
	for _, a := range attrs {
		if isDirection(a.Key) {
			def = a.Key
		}
	}
	return def
}

func isDirection(key string) bool {
	switch key {
	case DirectionSendRecv, DirectionSendOnly, DirectionRecvOnly, DirectionInactive:
		return true
	}
	return false
}

// rtcpAddr returns the RTCP address of an audio stream (RFC 3605 section
// 2.1: "a=rtcp:<port> [IN IP4 <address>]").
//
// With rtcp-mux the RTP address wins: browsers put a placeholder
// "a=rtcp:9 IN IP4 0.0.0.0" next to it (RFC 8829 section 5.2.1).
func rtcpAddr(md *sdp.MediaDescription, rtpAddr netip.AddrPort, mux bool) netip.AddrPort {
	if mux {
		return rtpAddr
	}
	if v, ok := md.Attribute("rtcp"); ok {
		f := strings.Fields(v)
		if len(f) > 0 {
			if port, err := strconv.ParseUint(f[0], 10, 16); err == nil && port > 0 {
				ip := rtpAddr.Addr()
				if len(f) == 4 && f[1] == "IN" {
					if a, err := parseConnAddr(f[3]); err == nil && !a.IsUnspecified() {
						ip = a
					}
				}
				return netip.AddrPortFrom(ip, uint16(port))
			}
		}
	}
	if rtpAddr.Port() == 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(rtpAddr.Addr(), rtpAddr.Port()+1)
}

// codecs lists the payload formats of an m= line with their rtpmap and fmtp.
func codecs(md *sdp.MediaDescription) []Codec {
	out := make([]Codec, 0, len(md.MediaName.Formats))
	for _, f := range md.MediaName.Formats {
		pt, ok := parsePT(f)
		if !ok {
			continue
		}
		c, known := staticPT[pt]
		if !known {
			c = Codec{PT: pt}
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				if p, rest, ok := attrPT(a.Value); ok && p == pt {
					c = parseRtpmap(pt, rest)
				}
			case "fmtp":
				if p, rest, ok := attrPT(a.Value); ok && p == pt {
					c.Fmtp = rest
				}
			}
		}
		out = append(out, c)
	}
	return out
}

// parsePT parses an m= line format as an RTP payload type.
func parsePT(s string) (uint8, bool) {
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n > 127 {
		return 0, false
	}
	return uint8(n), true
}

// attrPT splits "96 opus/48000/2" into 96 and "opus/48000/2".
func attrPT(v string) (uint8, string, bool) {
	head, rest, _ := strings.Cut(v, " ")
	pt, ok := parsePT(head)
	return pt, strings.TrimSpace(rest), ok
}

// parseRtpmap parses "<encoding name>/<clock rate>[/<channels>]" (RFC 4566
// section 6).
func parseRtpmap(pt uint8, v string) Codec {
	c := Codec{PT: pt}
	parts := strings.Split(v, "/")
	c.Name = parts[0]
	if len(parts) > 1 {
		c.Rate, _ = strconv.Atoi(parts[1])
	}
	if len(parts) > 2 {
		c.Channels, _ = strconv.Atoi(parts[2])
	}
	return c
}

// RewriteSDP returns the SDP that Teamline sends in place of body: the same
// audio stream, anchored at local and limited to what the relay passes on.
//
//   - o= has username "teamline", the given session id and version, and
//     local's IP; s= is "Teamline"; i=, u=, e=, p=, b= and k= lines are
//     dropped.
//   - The session c= and the audio c= carry local's IP; the audio m= port
//     is local's port and its profile plain RTP/AVP.
//   - Only PCMU, PCMA and telephone-event (all at 8000 Hz) stay on the m=
//     line, with their rtpmap and fmtp; ErrNoCommonCodec if neither PCMU
//     nor PCMA is left.
//   - Of the other attributes only direction, ptime and maxptime stay, so
//     ICE, DTLS (fingerprint, setup), SDES crypto, rtcp-mux, rtcp-fb,
//     extmap, ssrc, msid, mid and BUNDLE lines are removed. a=rtcp, when
//     present, is rewritten to local's port plus one.
//   - Any other m= line (video, a second audio stream) is kept with port 0,
//     which disables it (RFC 3264 section 6), so an answer keeps the
//     offer's m= lines in order.
func RewriteSDP(body []byte, local netip.AddrPort, sessionID uint64, version uint64) ([]byte, error) {
	ip := local.Addr().Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || local.Port() == 0 || local.Port() == 65535 {
		return nil, fmt.Errorf("rewrite sdp: local address %s is not usable", local)
	}
	sd, idx, _, err := parseSDP(body)
	if err != nil {
		return nil, fmt.Errorf("rewrite sdp: %w", err)
	}
	addrType := "IP4"
	if !ip.Is4() {
		addrType = "IP6"
	}
	conn := func() *sdp.ConnectionInformation {
		return &sdp.ConnectionInformation{
			NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: ip.String()},
		}
	}

	sd.Origin = sdp.Origin{
		Username:       sdpUsername,
		SessionID:      sessionID,
		SessionVersion: version,
		NetworkType:    "IN",
		AddressType:    addrType,
		UnicastAddress: ip.String(),
	}
	sd.SessionName = "Teamline"
	sd.SessionInformation = nil
	sd.URI = nil
	sd.EmailAddress = nil
	sd.PhoneNumber = nil
	sd.EncryptionKey = nil
	sd.Bandwidth = nil
	sd.ConnectionInformation = conn()
	sd.Attributes = keepAttrs(sd.Attributes, func(a sdp.Attribute) bool { return isDirection(a.Key) })

	for i, md := range sd.MediaDescriptions {
		md.MediaTitle = nil
		md.Bandwidth = nil
		md.EncryptionKey = nil
		if i != idx {
			md.MediaName.Port = sdp.RangedPort{Value: 0}
			md.ConnectionInformation = nil
			md.Attributes = nil
			continue
		}
		if err := rewriteAudio(md, local, conn()); err != nil {
			return nil, fmt.Errorf("rewrite sdp: %w", err)
		}
	}
	out, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("rewrite sdp: marshal: %w", err)
	}
	return out, nil
}

// rewriteAudio anchors the relayed audio stream at local and keeps only the
// formats and attributes the relay passes on.
func rewriteAudio(md *sdp.MediaDescription, local netip.AddrPort, conn *sdp.ConnectionInformation) error {
	keep := make(map[uint8]bool, len(md.MediaName.Formats))
	formats := make([]string, 0, len(md.MediaName.Formats))
	g711 := false
	for _, c := range codecs(md) {
		if !c.relayable() || keep[c.PT] {
			continue
		}
		keep[c.PT] = true
		formats = append(formats, strconv.Itoa(int(c.PT)))
		if !strings.EqualFold(c.Name, CodecTelephoneEvent) {
			g711 = true
		}
	}
	if !g711 {
		return ErrNoCommonCodec
	}
	md.MediaName.Port = sdp.RangedPort{Value: int(local.Port())}
	md.MediaName.Protos = []string{"RTP", "AVP"}
	md.MediaName.Formats = formats
	md.ConnectionInformation = conn

	rtcp := strconv.Itoa(int(local.Port())+1) + " " + conn.NetworkType + " " + conn.AddressType + " " + conn.Address.Address
	attrs := md.Attributes[:0]
	for _, a := range md.Attributes {
		switch a.Key {
		case "rtpmap", "fmtp":
			if pt, _, ok := attrPT(a.Value); ok && keep[pt] {
				attrs = append(attrs, a)
			}
		case "ptime", "maxptime", DirectionSendRecv, DirectionSendOnly, DirectionRecvOnly, DirectionInactive:
			attrs = append(attrs, a)
		case "rtcp":
			attrs = append(attrs, sdp.NewAttribute("rtcp", rtcp))
		}
	}
	md.Attributes = attrs
	return nil
}

// keepAttrs returns the attributes for which keep is true.
func keepAttrs(attrs []sdp.Attribute, keep func(sdp.Attribute) bool) []sdp.Attribute {
	out := attrs[:0]
	for _, a := range attrs {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

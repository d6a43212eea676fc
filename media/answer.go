package media

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// AnswerDirection returns the direction an answer gives to a stream offered
// with direction offer (RFC 3264 section 6.1): a party that only sends
// (holds the call) gets recvonly, one that only receives gets sendonly,
// inactive stays inactive, and anything else is sendrecv.
func AnswerDirection(offer string) string {
	switch offer {
	case DirectionSendOnly:
		return DirectionRecvOnly
	case DirectionRecvOnly:
		return DirectionSendOnly
	case DirectionInactive:
		return DirectionInactive
	default:
		return DirectionSendRecv
	}
}

// AnswerSDP answers an offer that a plain-RTP party sends on a dialog that
// is already up (a re-INVITE: hold, resume, a new address), on behalf of
// Teamline's side of the relay as ours, the SDP Teamline last sent to that
// party, describes it (RFC 3264 section 6):
//
//   - the audio stream is anchored where ours anchors it (its c= address and
//     m= port), as plain RTP/AVP;
//   - o= keeps ours's username and session id with the version one higher
//     (RFC 3264 section 8);
//   - the stream carries one G.711 format of the offer that ours lists with
//     the same payload type (prefer, an encoding name, when the offer has it,
//     else the offer's first such format), and telephone-event when ours
//     lists it with the same payload type: the relay passes packets on as
//     they are, so a payload type the other party does not expect is never
//     accepted;
//   - the direction mirrors the offer's (AnswerDirection);
//   - every other m= line of the offer is refused with port 0, in order.
//
// It also returns the offer's audio stream, for the relay. It returns
// ErrNoCommonCodec when the offer has no G.711 format that ours has too.
func AnswerSDP(offer, ours []byte, prefer string) ([]byte, MediaInfo, error) {
	offered, idx, remote, err := parseSDP(offer)
	if err != nil {
		return nil, MediaInfo{}, fmt.Errorf("answer offer: %w", err)
	}
	own, _, local, err := parseSDP(ours)
	if err != nil {
		return nil, MediaInfo{}, fmt.Errorf("answer offer: teamline's sdp: %w", err)
	}
	ip := local.RTP.Addr().Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || local.RTP.Port() == 0 {
		return nil, MediaInfo{}, fmt.Errorf("answer offer: teamline's address %s is not usable", local.RTP)
	}
	formats := answerFormats(remote.Codecs, local.Codecs, prefer)
	if len(formats) == 0 {
		return nil, MediaInfo{}, fmt.Errorf("answer offer: %w", ErrNoCommonCodec)
	}

	addrType := "IP4"
	if !ip.Is4() {
		addrType = "IP6"
	}
	conn := &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: ip.String()}}
	username := own.Origin.Username
	if username == "" || username == "-" {
		username = sdpUsername
	}
	ans := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       username,
			SessionID:      own.Origin.SessionID,
			SessionVersion: own.Origin.SessionVersion + 1,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: ip.String(),
		},
		SessionName:           "Teamline",
		ConnectionInformation: conn,
		TimeDescriptions:      []sdp.TimeDescription{{}},
	}
	for i, md := range offered.MediaDescriptions {
		if i != idx {
			// Refused, with the offer's formats (RFC 3264 section 6).
			ans.MediaDescriptions = append(ans.MediaDescriptions, &sdp.MediaDescription{MediaName: sdp.MediaName{
				Media: md.MediaName.Media, Port: sdp.RangedPort{Value: 0},
				Protos: md.MediaName.Protos, Formats: md.MediaName.Formats,
			}})
			continue
		}
		audio := &sdp.MediaDescription{MediaName: sdp.MediaName{
			Media: "audio", Port: sdp.RangedPort{Value: int(local.RTP.Port())}, Protos: []string{"RTP", "AVP"},
		}}
		for _, c := range formats {
			pt := strconv.Itoa(int(c.PT))
			audio.MediaName.Formats = append(audio.MediaName.Formats, pt)
			audio.Attributes = append(audio.Attributes, sdp.NewAttribute("rtpmap", pt+" "+c.Name+"/"+strconv.Itoa(c.Rate)))
			if c.Fmtp != "" {
				audio.Attributes = append(audio.Attributes, sdp.NewAttribute("fmtp", pt+" "+c.Fmtp))
			}
		}
		audio.Attributes = append(audio.Attributes, sdp.NewPropertyAttribute(AnswerDirection(remote.Direction)))
		ans.MediaDescriptions = append(ans.MediaDescriptions, audio)
	}
	out, err := ans.Marshal()
	if err != nil {
		return nil, MediaInfo{}, fmt.Errorf("answer offer: marshal: %w", err)
	}
	return out, remote, nil
}

// answerFormats picks the formats of an answer from the offered ones: one
// G.711 format that ours has with the same payload type (prefer first),
// then telephone-event on the same terms. Empty when no G.711 matches.
func answerFormats(offered, ours []Codec, prefer string) []Codec {
	same := func(c Codec) bool {
		for _, o := range ours {
			if o.PT == c.PT && strings.EqualFold(o.Name, c.Name) && o.Rate == c.Rate {
				return true
			}
		}
		return false
	}
	var voice, event *Codec
	for i, c := range offered {
		if !c.relayable() || !same(c) {
			continue
		}
		switch {
		case strings.EqualFold(c.Name, CodecTelephoneEvent):
			if event == nil {
				event = &offered[i]
			}
		case voice == nil || (strings.EqualFold(c.Name, prefer) && !strings.EqualFold(voice.Name, prefer)):
			voice = &offered[i]
		}
	}
	if voice == nil {
		return nil
	}
	out := []Codec{*voice}
	if event != nil {
		out = append(out, *event)
	}
	return out
}

// withDirection returns body with the direction of its first active audio
// stream set to dir: the stream's own direction attribute is replaced (or
// added), and a session-level one removed.
func withDirection(body []byte, dir string) ([]byte, error) {
	sd, idx, _, err := parseSDP(body)
	if err != nil {
		return nil, err
	}
	sd.Attributes = keepAttrs(sd.Attributes, func(a sdp.Attribute) bool { return !isDirection(a.Key) })
	md := sd.MediaDescriptions[idx]
	set := false
	attrs := md.Attributes[:0]
	for _, a := range md.Attributes {
		if isDirection(a.Key) {
			if set {
				continue
			}
			a, set = sdp.NewPropertyAttribute(dir), true
		}
		attrs = append(attrs, a)
	}
	if !set {
		attrs = append(attrs, sdp.NewPropertyAttribute(dir))
	}
	md.Attributes = attrs
	out, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal sdp: %w", err)
	}
	return out, nil
}

// sdpDirection returns the direction of the first active audio stream of
// body.
func sdpDirection(body []byte) (string, error) {
	_, mi, err := ParseSDP(body)
	if err != nil {
		return "", err
	}
	return mi.Direction, nil
}

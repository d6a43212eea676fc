package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Payload types of the static G.711 mappings (RFC 3551 section 6).
const (
	// PayloadPCMU is the RTP payload type of G.711 mu-law.
	PayloadPCMU uint8 = 0
	// PayloadPCMA is the RTP payload type of G.711 A-law.
	PayloadPCMA uint8 = 8
)

const (
	// frameDuration is the packetisation time of a prompt: 20 ms.
	frameDuration = 20 * time.Millisecond
	// frameBytes is one 20 ms frame of 8 kHz G.711: 160 samples, one byte
	// each, which is also the RTP timestamp step.
	frameBytes = 160
)

// ErrPayloadType is returned by PlayA for a payload type other than PCMU (0)
// or PCMA (8).
var ErrPayloadType = errors.New("prompt payload type must be 0 (PCMU) or 8 (PCMA)")

// ErrPlaying is returned by PlayA while another PlayA on the same session
// is still playing.
var ErrPlaying = errors.New("a prompt is already playing to the caller")

// ErrNoRemote is returned by PlayA when the caller's address is not known:
// the caller's SDP gave none (or put the call on hold) and no packet from
// the caller has been latched onto.
var ErrNoRemote = errors.New("caller's media address is not known")

// ErrEnded is returned by PlayA on a session that has ended.
var ErrEnded = errors.New("media session has ended")

// PlayA streams audio, 8 kHz mu-law as Prompts returns it, to the caller
// (side A) as an RTP stream of its own: a random SSRC, sequence number and
// timestamp to start with, the marker bit on the first packet, one packet
// of 160 samples every 20 ms. With pt PayloadPCMU the bytes are sent as
// they are; with PayloadPCMA each is converted to A-law through a table.
// The last frame is padded with silence. Packets leave from side A's RTP
// socket (the address the caller's SDP answer names) towards the caller's
// SDP address, or the address latched onto once the caller sends.
//
// Packets are paced against absolute deadlines from the first packet, so
// the stream does not drift; a late wake-up sends the frames that are due
// at once. PlayA returns nil once the last frame has been sent and its 20
// ms have passed, or ctx's error when ctx ends first. It does not allocate
// per packet.
//
// PlayA works whether the relay has been started or not. The rule that
// keeps it from fighting the relay: while PlayA runs, RTP from the agent
// (side B) is not forwarded to the caller (it is counted in
// Stats.DroppedPlaying); RTCP and the caller's RTP to the agent are relayed
// as usual. Only one PlayA runs per session at a time; another one returns
// ErrPlaying.
func (s *Session) PlayA(ctx context.Context, audio []byte, pt uint8) error {
	return s.play(ctx, &s.a.rtp, &s.playingA, audio, pt)
}

// PlayB is PlayA towards the agent (side B): Teamline plays ringback to an
// agent who took a callback while the customer's phone rings. While it
// runs, the caller's RTP is not forwarded to the agent.
func (s *Session) PlayB(ctx context.Context, audio []byte, pt uint8) error {
	return s.play(ctx, &s.b.rtp, &s.playingB, audio, pt)
}

func (s *Session) play(ctx context.Context, ep *endpoint, playing *atomic.Bool, audio []byte, pt uint8) error {
	var table *[256]byte
	switch pt {
	case PayloadPCMU:
	case PayloadPCMA:
		table = &ulawToAlaw
	default:
		return fmt.Errorf("play prompt with payload type %d: %w", pt, ErrPayloadType)
	}
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended {
		return fmt.Errorf("play prompt: %w", ErrEnded)
	}
	if !ep.dest().IsValid() {
		return fmt.Errorf("play prompt: %w", ErrNoRemote)
	}
	if !playing.CompareAndSwap(false, true) {
		return fmt.Errorf("play prompt: %w", ErrPlaying)
	}
	defer playing.Store(false)

	p := newPlayer(pt, table)
	frames := (len(audio) + frameBytes - 1) / frameBytes
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	for i := 0; i <= frames; i++ {
		// Frame i is due at start + i*20 ms; the pass after the last frame
		// only waits for that frame's 20 ms to be played out.
		if wait := time.Until(start.Add(time.Duration(i) * frameDuration)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return fmt.Errorf("play prompt: %w", ctx.Err())
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return fmt.Errorf("play prompt: %w", err)
		}
		if i == frames {
			break
		}
		pkt := p.frame(audio[i*frameBytes:])
		if ep == &s.b.rtp {
			// A browser agent joined in memory gets the prompt the way it
			// gets the relay's packets (fromRelay does not keep pkt).
			if leg := s.bLeg.Load(); leg != nil {
				leg.fromRelay(s, pkt)
				continue
			}
		}
		dst := ep.dest()
		if !dst.IsValid() {
			// The caller went on hold (c=0.0.0.0): the frame is lost, the
			// stream's clock goes on.
			continue
		}
		if _, err := ep.conn.WriteToUDPAddrPort(pkt, dst); err != nil {
			s.mu.Lock()
			ended := s.ended
			s.mu.Unlock()
			if ended {
				return fmt.Errorf("play prompt frame %d of %d: %w", i+1, frames, ErrEnded)
			}
			return fmt.Errorf("play prompt frame %d of %d to %s: %w", i+1, frames, dst, err)
		}
	}
	return nil
}

// player builds the RTP packets of one prompt in a single reused buffer.
type player struct {
	buf   [rtpHeaderLen + frameBytes]byte
	table *[256]byte // mu-law to the payload's law; nil for PCMU
	pad   byte       // silence in the payload's law
	seq   uint16
	ts    uint32
	first bool
}

// newPlayer returns a player for payload type pt with a random SSRC,
// sequence number and timestamp (RFC 3550 section 5.1).
func newPlayer(pt uint8, table *[256]byte) *player {
	p := &player{table: table, pad: ulawSilence, first: true}
	if table != nil {
		p.pad = table[ulawSilence]
	}
	p.seq = uint16(rand.Uint32())
	p.ts = rand.Uint32()
	p.buf[0] = 2 << 6 // version 2, no padding, no extension, no CSRC
	p.buf[1] = pt & 0x7f
	binary.BigEndian.PutUint32(p.buf[8:], rand.Uint32())
	return p
}

// frame returns the next packet, carrying the first frameBytes of audio
// (padded with silence when audio is shorter). The returned slice is the
// player's buffer, valid until the next call.
func (p *player) frame(audio []byte) []byte {
	if p.first {
		p.buf[1] |= 0x80 // marker: the start of a talkspurt (RFC 3551 section 4.1)
		p.first = false
	} else {
		p.buf[1] &^= 0x80
	}
	binary.BigEndian.PutUint16(p.buf[2:], p.seq)
	binary.BigEndian.PutUint32(p.buf[4:], p.ts)
	p.seq++
	p.ts += frameBytes
	payload := p.buf[rtpHeaderLen:]
	n := min(len(audio), frameBytes)
	if p.table == nil {
		copy(payload, audio[:n])
	} else {
		for i, b := range audio[:n] {
			payload[i] = p.table[b]
		}
	}
	for i := n; i < frameBytes; i++ {
		payload[i] = p.pad
	}
	return p.buf[:]
}

// ulawToAlaw converts a mu-law byte to the A-law byte of the nearest level,
// by way of the 16-bit linear sample (ITU-T G.711). Built once at start-up.
var ulawToAlaw = func() (t [256]byte) {
	for u := range 256 {
		t[u] = alawEncode(ulawDecode(byte(u)))
	}
	return t
}()

// ulawDecode returns the 16-bit linear sample of a mu-law byte.
func ulawDecode(u byte) int16 {
	u = ^u
	exp := (u >> 4) & 0x07
	v := ((int32(u&0x0F) << 3) + 0x84) << exp
	v -= 0x84
	if u&0x80 != 0 {
		return int16(-v)
	}
	return int16(v)
}

// alawSegEnds are the upper ends of the A-law segments on the 13-bit scale.
var alawSegEnds = [8]int32{0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF}

// alawEncode returns the A-law byte of a 16-bit linear sample.
func alawEncode(sample int16) byte {
	pcm := int32(sample) >> 3 // A-law works on 13 bits
	var mask byte = 0xD5      // sign bit set, even bits inverted
	if pcm < 0 {
		mask = 0x55
		pcm = -pcm - 1
	}
	seg := 0
	for seg < len(alawSegEnds) && pcm > alawSegEnds[seg] {
		seg++
	}
	if seg == len(alawSegEnds) {
		return 0x7F ^ mask
	}
	aval := byte(seg << 4)
	if seg < 2 {
		aval |= byte(pcm>>1) & 0x0F
	} else {
		aval |= byte(pcm>>seg) & 0x0F
	}
	return aval ^ mask
}

// Ringback returns one cadence of the European ringback tone (ETSI TR 101
// 041: 425 Hz, 1 s on, 4 s off) as 8 kHz mu-law, to be played in a loop.
func Ringback() []byte {
	const rate, on, total = 8000, 8000, 5 * 8000
	out := make([]byte, total)
	for i := range out {
		out[i] = 0xFF // mu-law silence
		if i < on {
			v := 0.25 * 32767 * math.Sin(2*math.Pi*425*float64(i)/rate)
			out[i] = ulawEncode(int16(v))
		}
	}
	return out
}

// ulawEncode is G.711 mu-law encoding of one linear sample.
func ulawEncode(sample int16) byte {
	const bias, clip = 0x84, 32635
	s := int(sample)
	sign := 0
	if s < 0 {
		s, sign = -s, 0x80
	}
	s = min(s, clip) + bias
	exponent := 7
	for mask := 0x4000; s&mask == 0 && exponent > 0; mask >>= 1 {
		exponent--
	}
	mantissa := (s >> (exponent + 3)) & 0x0F
	return ^byte(sign | exponent<<4 | mantissa)
}

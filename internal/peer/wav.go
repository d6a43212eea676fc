package peer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrNotPCM16 is returned by WAVStats for a WAV file that is not 16-bit PCM.
var ErrNotPCM16 = errors.New("not a 16-bit PCM WAV file")

// WAVStats reads a 16-bit PCM WAV file (as baresip's sndfile module writes)
// and returns its RMS level relative to full scale (0..1; below SilenceRMS is
// silence) and its dominant frequency estimated from zero crossings. Only the
// first channel is measured.
func WAVStats(path string) (rms float64, freqHz float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("open wav: %w", err)
	}
	defer f.Close()
	rate, channels, data, err := readWAVHeader(f)
	if err != nil {
		return 0, 0, fmt.Errorf("read wav %s: %w", path, err)
	}
	var m meter
	frame := make([]byte, 2*channels)
	buf := make([]byte, 0, 4096)
	r := io.LimitReader(f, data)
	for {
		buf = buf[:cap(buf)-cap(buf)%len(frame)]
		n, rerr := io.ReadFull(r, buf)
		for i := 0; i+len(frame) <= n; i += len(frame) {
			m.add(int16(binary.LittleEndian.Uint16(buf[i:])))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return 0, 0, fmt.Errorf("read wav samples %s: %w", path, rerr)
		}
	}
	return m.rms(), m.freq(rate), nil
}

// readWAVHeader walks the RIFF chunks up to "data" and returns the sample
// rate, the channel count and the length of the data chunk, leaving r at the
// first sample.
func readWAVHeader(r io.Reader) (rate, channels int, dataLen int64, err error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return 0, 0, 0, fmt.Errorf("riff header: %w", err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return 0, 0, 0, fmt.Errorf("no RIFF/WAVE header: %w", ErrNotPCM16)
	}
	haveFmt := false
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, 0, 0, fmt.Errorf("chunk header: %w", err)
		}
		id := string(hdr[0:4])
		size := int64(binary.LittleEndian.Uint32(hdr[4:8]))
		switch id {
		case "fmt ":
			if size < 16 {
				return 0, 0, 0, fmt.Errorf("fmt chunk of %d bytes: %w", size, ErrNotPCM16)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return 0, 0, 0, fmt.Errorf("fmt chunk: %w", err)
			}
			format := binary.LittleEndian.Uint16(b[0:2])
			channels = int(binary.LittleEndian.Uint16(b[2:4]))
			rate = int(binary.LittleEndian.Uint32(b[4:8]))
			bits := binary.LittleEndian.Uint16(b[14:16])
			// 0xFFFE is WAVE_FORMAT_EXTENSIBLE; its sub-format is not checked.
			if (format != 1 && format != 0xFFFE) || bits != 16 || channels < 1 || rate <= 0 {
				return 0, 0, 0, fmt.Errorf("format %d, %d bits, %d channels, %d Hz: %w",
					format, bits, channels, rate, ErrNotPCM16)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return 0, 0, 0, fmt.Errorf("data before fmt chunk: %w", ErrNotPCM16)
			}
			// A writer killed mid-call may leave 0 or 0xFFFFFFFF here: read to EOF.
			if size == 0 || size == 0xFFFFFFFF {
				size = 1 << 62
			}
			return rate, channels, size, nil
		default:
			if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
				return 0, 0, 0, fmt.Errorf("skip chunk %q: %w", id, err)
			}
		}
	}
}

// WriteToneWAV writes a mono 16-bit PCM WAV file holding a sine tone, for
// example a fake microphone for a browser agent or a file for baresip's
// aufile. amplitude is relative to full scale (0..1).
func WriteToneWAV(path string, sampleRate int, freqHz float64, d time.Duration, amplitude float64) error {
	n := int(d.Seconds() * float64(sampleRate))
	data := make([]byte, 44+2*n)
	copy(data[0:], "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*n))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1) // PCM
	binary.LittleEndian.PutUint16(data[22:], 1) // mono
	binary.LittleEndian.PutUint32(data[24:], uint32(sampleRate))
	binary.LittleEndian.PutUint32(data[28:], uint32(2*sampleRate))
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*n))
	g := newTone(freqHz, sampleRate, amplitude)
	for i := range n {
		binary.LittleEndian.PutUint16(data[44+2*i:], uint16(g.next()))
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write tone wav: %w", err)
	}
	return nil
}

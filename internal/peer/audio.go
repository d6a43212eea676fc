package peer

import (
	"math"
)

// SilenceRMS is the RMS level (relative to full scale) under which audio
// counts as silence: about -40 dBFS, far above G.711's idle noise and far
// below any test tone.
const SilenceRMS = 0.01

// meter accumulates the level and the zero crossings of 16-bit samples.
type meter struct {
	samples   int64
	sumSquare float64
	crossings int64
	state     int8 // -1 below -hysteresis, +1 above +hysteresis, 0 unknown
}

// hysteresis keeps noise around zero from counting as crossings (~1% FS).
const hysteresis = 328

func (m *meter) add(s int16) {
	m.samples++
	f := float64(s)
	m.sumSquare += f * f
	switch {
	case s > hysteresis:
		if m.state < 0 {
			m.crossings++
		}
		m.state = 1
	case s < -hysteresis:
		if m.state > 0 {
			m.crossings++
		}
		m.state = -1
	}
}

// rms returns the RMS level relative to full scale (0..1).
func (m *meter) rms() float64 {
	if m.samples == 0 {
		return 0
	}
	return math.Sqrt(m.sumSquare/float64(m.samples)) / 32768
}

// freq estimates the dominant frequency from zero crossings.
func (m *meter) freq(sampleRate int) float64 {
	if m.samples == 0 || sampleRate <= 0 {
		return 0
	}
	seconds := float64(m.samples) / float64(sampleRate)
	return float64(m.crossings) / 2 / seconds
}

// tone generates a sine wave sample by sample with a phase accumulator.
type tone struct {
	phase, step, amp float64
}

func newTone(freqHz float64, sampleRate int, amplitude float64) *tone {
	return &tone{step: 2 * math.Pi * freqHz / float64(sampleRate), amp: amplitude * 32767}
}

func (g *tone) next() int16 {
	v := g.amp * math.Sin(g.phase)
	g.phase += g.step
	if g.phase > 2*math.Pi {
		g.phase -= 2 * math.Pi
	}
	return int16(math.Round(v))
}

package peer

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func TestWAVStats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rate      int
		freq      float64
		amplitude float64
		wantRMS   float64 // amplitude/sqrt(2) for a sine
	}{
		{"1000 Hz at 8 kHz", 8000, 1000, 0.5, 0.5 / math.Sqrt2},
		{"440 Hz at 16 kHz", 16000, 440, 0.3, 0.3 / math.Sqrt2},
		{"silence", 8000, 1000, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tone.wav")
			if err := WriteToneWAV(path, tc.rate, tc.freq, time.Second, tc.amplitude); err != nil {
				t.Fatal(err)
			}
			rms, freq, err := WAVStats(path)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(rms-tc.wantRMS) > 0.01 {
				t.Errorf("rms = %.4f, want %.4f", rms, tc.wantRMS)
			}
			wantFreq := tc.freq
			if tc.amplitude == 0 {
				wantFreq = 0
			}
			if math.Abs(freq-wantFreq) > 5 {
				t.Errorf("freq = %.1f Hz, want %.1f Hz", freq, wantFreq)
			}
		})
	}
}

func TestWAVStatsRejects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		content []byte
		want    error
	}{
		{"not riff", []byte("hello world, this is not a wav file"), ErrNotPCM16},
		{"8-bit pcm", wavHeader(1, 8), ErrNotPCM16},
		{"float", wavHeader(3, 32), ErrNotPCM16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tc.name+".wav")
			if err := os.WriteFile(path, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, _, err := WAVStats(path); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func wavHeader(format, bits uint16) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00")
	b = append(b, byte(format), byte(format>>8), 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, byte(bits), byte(bits>>8))
	return append(b, "data\x00\x00\x00\x00"...)
}

// TestWAVStatsAgreesWithSox checks the parser against sox's own measurement
// of a file sox wrote, so the two cannot share a mistake.
func TestWAVStatsAgreesWithSox(t *testing.T) {
	t.Parallel()
	sox, err := exec.LookPath("sox")
	if err != nil {
		t.Skip("sox is not installed (Debian package sox)")
	}
	path := filepath.Join(t.TempDir(), "sox.wav")
	out, err := exec.Command(sox, "-n", "-r", "8000", "-b", "16", "-c", "1", "-e", "signed-integer", path,
		"synth", "1", "sine", "700", "vol", "0.4").CombinedOutput()
	if err != nil {
		t.Fatalf("sox synth: %v\n%s", err, out)
	}
	out, err = exec.Command(sox, path, "-n", "stat").CombinedOutput()
	if err != nil {
		t.Fatalf("sox stat: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`RMS\s+amplitude:\s+([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no RMS in sox stat output:\n%s", out)
	}
	soxRMS, _ := strconv.ParseFloat(string(m[1]), 64)
	rms, freq, err := WAVStats(path)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rms-soxRMS) > 0.005 {
		t.Errorf("rms = %.4f, sox says %.4f", rms, soxRMS)
	}
	if math.Abs(freq-700) > 5 {
		t.Errorf("freq = %.1f Hz, want 700", freq)
	}
}

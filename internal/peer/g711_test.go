package peer

import (
	"math"
	"testing"
)

func TestG711KnownValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dec  func(byte) int16
		in   byte
		want int16
	}{
		{"mulaw positive zero", DecodeMulaw, 0xFF, 0},
		{"mulaw negative zero", DecodeMulaw, 0x7F, 0},
		{"mulaw max", DecodeMulaw, 0x80, 32124},
		{"mulaw min", DecodeMulaw, 0x00, -32124},
		{"alaw smallest positive", DecodeAlaw, 0xD5, 8},
		{"alaw smallest negative", DecodeAlaw, 0x55, -8},
		{"alaw max", DecodeAlaw, 0xAA, 32256},
		{"alaw min", DecodeAlaw, 0x2A, -32256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.dec(tc.in); got != tc.want {
				t.Errorf("decode(%#02x) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestG711RoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		enc  func(int16) byte
		dec  func(byte) int16
	}{
		{"mulaw", EncodeMulaw, DecodeMulaw},
		{"alaw", EncodeAlaw, DecodeAlaw},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Every code decodes to a value that encodes back to the same code
			// (except mu-law's negative zero, which encodes as positive zero).
			for c := 0; c < 256; c++ {
				v := tc.dec(byte(c))
				if got := tc.enc(v); got != byte(c) && !(tc.name == "mulaw" && c == 0x7F) {
					t.Errorf("enc(dec(%#02x)=%d) = %#02x", c, v, got)
				}
			}
			// The quantisation error stays within G.711's logarithmic steps.
			for s := -32768; s <= 32767; s += 7 {
				got := int(tc.dec(tc.enc(int16(s))))
				tol := 16 + int(math.Abs(float64(s)))/16
				if d := got - s; d > tol || d < -tol {
					t.Fatalf("round trip of %d gave %d (tolerance %d)", s, got, tol)
				}
			}
		})
	}
}

func BenchmarkEncodeMulaw(b *testing.B) {
	b.ReportAllocs()
	var sink byte
	for i := 0; b.Loop(); i++ {
		sink ^= EncodeMulaw(int16(i))
	}
	_ = sink
}

func BenchmarkDecodeMulaw(b *testing.B) {
	b.ReportAllocs()
	var sink int16
	for i := 0; b.Loop(); i++ {
		sink ^= DecodeMulaw(byte(i))
	}
	_ = sink
}

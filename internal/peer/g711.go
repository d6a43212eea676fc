package peer

// G.711 (ITU-T G.711) mu-law and A-law, sample by sample. Small and exact
// enough for tests; Teamline's relay never transcodes.

const (
	mulawBias = 0x84
	mulawClip = 32635
)

// EncodeMulaw encodes one 16-bit linear sample as G.711 mu-law (PCMU).
func EncodeMulaw(s int16) byte {
	v := int(s)
	sign := 0
	if v < 0 {
		v = -v
		sign = 0x80
	}
	if v > mulawClip {
		v = mulawClip
	}
	v += mulawBias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0F
	return ^byte(sign | exp<<4 | mant)
}

// DecodeMulaw decodes one G.711 mu-law (PCMU) byte to a 16-bit linear sample.
func DecodeMulaw(b byte) int16 {
	b = ^b
	exp := int(b>>4) & 0x07
	mant := int(b & 0x0F)
	v := ((mant << 3) + mulawBias) << exp
	v -= mulawBias
	if b&0x80 != 0 {
		return int16(-v)
	}
	return int16(v)
}

// EncodeAlaw encodes one 16-bit linear sample as G.711 A-law (PCMA).
func EncodeAlaw(s int16) byte {
	v := int(s)
	sign := 0x80
	if v < 0 {
		v = -v - 1
		sign = 0
	}
	if v > 32767 {
		v = 32767
	}
	var out int
	if v < 256 {
		out = v >> 4
	} else {
		exp := 1
		for t := v >> 8; t > 1; t >>= 1 {
			exp++
		}
		out = exp<<4 | (v>>(exp+3))&0x0F
	}
	return byte(out|sign) ^ 0x55
}

// DecodeAlaw decodes one G.711 A-law (PCMA) byte to a 16-bit linear sample.
func DecodeAlaw(b byte) int16 {
	b ^= 0x55
	exp := int(b>>4) & 0x07
	mant := int(b & 0x0F)
	var v int
	if exp == 0 {
		v = mant<<4 + 8
	} else {
		v = (mant<<4 + 0x108) << (exp - 1)
	}
	if b&0x80 != 0 {
		return int16(v)
	}
	return int16(-v)
}

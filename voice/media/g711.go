package media

// G.711 (ITU-T, 1972): 8-bit logarithmic samples, µ-law (PCMU) and A-law
// (PCMA), decoded to and encoded from 16-bit linear PCM.

// Codecs, by the names the engine stores them under.
const (
	PCMU = "pcmu"
	PCMA = "pcma"
)

// SampleRate is G.711's: 8,000 one-byte samples a second.
const SampleRate = 8000

// Silence is a codec's byte for a zero sample (a gap in a recording).
func Silence(codec string) byte {
	if codec == PCMA {
		return 0xd5
	}
	return 0xff
}

// ulawDecode is a µ-law byte's linear value.
func ulawDecode(u byte) int16 {
	u = ^u
	t := (int(u&0x0f) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// alawDecode is an A-law byte's linear value.
func alawDecode(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0f) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t = (t + 0x108) << (seg - 1)
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// ulawEncode is a linear sample's µ-law byte.
func ulawEncode(s int16) byte {
	const bias, limit = 0x84, 32635
	x, sign := int(s), 0
	if x < 0 {
		x, sign = -x, 0x80
	}
	if x > limit {
		x = limit
	}
	x += bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (x >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

// alawEncode is a linear sample's A-law byte.
func alawEncode(s int16) byte {
	x, sign := int(s), 0x80
	if x < 0 {
		x, sign = -x-1, 0
	}
	exp, mant := 0, x>>4
	if x >= 256 {
		exp = 7
		for mask := 0x4000; x&mask == 0; mask >>= 1 {
			exp--
		}
		mant = (x >> (exp + 3)) & 0x0f
	}
	return byte(sign|exp<<4|mant) ^ 0x55
}

// Decode is the linear value of one sample of codec.
func Decode(codec string, b byte) int16 {
	if codec == PCMA {
		return alawDecode(b)
	}
	return ulawDecode(b)
}

// Encode is one linear sample in codec.
func Encode(codec string, s int16) byte {
	if codec == PCMA {
		return alawEncode(s)
	}
	return ulawEncode(s)
}

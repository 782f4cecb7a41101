package media

import "encoding/binary"

// WAV is a G.711 recording as a WAV file: RIFF, one fmt chunk of 16-bit
// linear PCM, mono, 8 kHz (decoded here: browsers do not all play G.711
// WAV), and the data chunk.
func WAV(codec string, g711 []byte) []byte {
	n := 2 * len(g711)
	b := make([]byte, 44, 44+n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)           // fmt chunk size
	binary.LittleEndian.PutUint16(b[20:], 1)            // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)            // mono
	binary.LittleEndian.PutUint32(b[24:], SampleRate)   // samples a second
	binary.LittleEndian.PutUint32(b[28:], SampleRate*2) // bytes a second
	binary.LittleEndian.PutUint16(b[32:], 2)            // block align
	binary.LittleEndian.PutUint16(b[34:], 16)           // bits a sample
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	for _, s := range g711 {
		b = binary.LittleEndian.AppendUint16(b, uint16(Decode(codec, s)))
	}
	return b
}

package media

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/pion/rtp"
)

// Session is one voicemail media session: a UDP socket of ours, the
// caller's stream as offered, and what it sent so far.
type Session struct {
	conn  *net.UDPConn
	offer Offer
}

// Listen opens the session's RTP socket on ip, at an even port (RFC 3550
// 11: RTP on even ports), trying a bounded number of ports.
func Listen(ip netip.Addr, o Offer) (*Session, error) {
	var last error
	for try := 0; try < 20; try++ {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			return nil, fmt.Errorf("opening an RTP socket on %s: %w", ip, err)
		}
		if c.LocalAddr().(*net.UDPAddr).Port%2 == 0 {
			return &Session{conn: c, offer: o}, nil
		}
		c.Close()
		last = fmt.Errorf("port %d is odd", c.LocalAddr().(*net.UDPAddr).Port)
	}
	return nil, fmt.Errorf("opening an RTP socket on %s at an even port: %w", ip, last)
}

// Local is the session's RTP address (for the SDP answer).
func (s *Session) Local() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close releases the socket.
func (s *Session) Close() error { return s.conn.Close() }

// Beep is a 1 kHz tone of d, in codec, at about -10 dBFS.
func Beep(codec string, d time.Duration) []byte {
	n := int(d.Seconds() * SampleRate)
	b := make([]byte, n)
	for i := range b {
		b[i] = Encode(codec, int16(10000*math.Sin(2*math.Pi*1000*float64(i)/SampleRate)))
	}
	return b
}

// samplesPerPacket is 20 ms of G.711.
const samplesPerPacket = SampleRate / 50

// Play sends audio to the caller's RTP address as 20 ms packets paced in
// real time (a random SSRC, sequence and timestamp start, the marker on
// the first), until it is sent or ctx is done.
func (s *Session) Play(ctx context.Context, audio []byte) error {
	var r [10]byte
	if _, err := rand.Read(r[:]); err != nil {
		return fmt.Errorf("choosing an SSRC: %w", err)
	}
	h := rtp.Header{Version: 2, PayloadType: s.offer.PT, SSRC: binary.BigEndian.Uint32(r[0:]),
		SequenceNumber: binary.BigEndian.Uint16(r[4:]), Timestamp: binary.BigEndian.Uint32(r[6:]), Marker: true}
	dst := net.UDPAddrFromAddrPort(s.offer.Remote)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for off := 0; off < len(audio); off += samplesPerPacket {
		p := rtp.Packet{Header: h, Payload: audio[off:min(off+samplesPerPacket, len(audio))]}
		b, err := p.Marshal()
		if err != nil {
			return fmt.Errorf("writing an RTP packet: %w", err)
		}
		if _, err := s.conn.WriteToUDP(b, dst); err != nil {
			return fmt.Errorf("sending RTP to %s: %w", s.offer.Remote, err)
		}
		h.Marker = false
		h.SequenceNumber++
		h.Timestamp += samplesPerPacket
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	return nil
}

// Recording is what a caller sent.
type Recording struct {
	Audio []byte // G.711 in the offer's codec, gaps filled with silence
	// Full: the recording reached its bound (the caller was still
	// sending).
	Full    bool
	Packets int // RTP packets taken
}

// ErrNoAudio: the caller sent nothing before ctx ended.
var ErrNoAudio = errors.New("no audio received")

// Record receives the caller's RTP until ctx is done (the caller hung
// up, or the time bound) or maxBytes are recorded. Packets are taken
// from the offer's address only (any port: a caller may send from
// another than it receives on) when the offer names one, and of the
// chosen payload type only (DTMF events and comfort noise are left
// out); each goes where its timestamp says, relative to the first
// packet's (late and duplicate packets overwrite their place, gaps are
// silence, a new SSRC continues at the end).
func (s *Session) Record(ctx context.Context, maxBytes int) (Recording, error) {
	var rec Recording
	buf := make([]byte, 1500)
	var ssrc, ts0 uint32
	started := false
	silence := Silence(s.offer.Codec)
	want := s.offer.Remote.Addr().Unmap()
	for {
		if ctx.Err() != nil {
			break
		}
		s.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return rec, fmt.Errorf("receiving RTP: %w", err)
		}
		if !want.IsUnspecified() && from.Addr().Unmap() != want {
			continue
		}
		var p rtp.Packet
		if p.Unmarshal(buf[:n]) != nil || p.Version != 2 || p.PayloadType != s.offer.PT || len(p.Payload) == 0 {
			continue
		}
		if !started || p.SSRC != ssrc {
			started, ssrc = true, p.SSRC
			ts0 = p.Timestamp - uint32(len(rec.Audio))
		}
		pos := int64(p.Timestamp - ts0)
		if pos > 1<<31 {
			continue // before the start (timestamps wrap)
		}
		if pos >= int64(maxBytes) {
			rec.Full = true
			break
		}
		end := min(int(pos)+len(p.Payload), maxBytes)
		for len(rec.Audio) < int(pos) {
			rec.Audio = append(rec.Audio, silence)
		}
		if end > len(rec.Audio) {
			rec.Audio = append(rec.Audio, make([]byte, end-len(rec.Audio))...)
		}
		copy(rec.Audio[pos:end], p.Payload)
		rec.Packets++
		if len(rec.Audio) >= maxBytes {
			rec.Full = true
			break
		}
	}
	if rec.Packets == 0 {
		return rec, ErrNoAudio
	}
	return rec, nil
}

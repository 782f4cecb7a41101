package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

func offerSDP(conn, media string, attrs ...string) string {
	s := "v=0\r\no=caller 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
	if conn != "" {
		s += "c=IN IP4 " + conn + "\r\n"
	}
	s += "t=0 0\r\n" + media + "\r\n"
	for _, a := range attrs {
		s += "a=" + a + "\r\n"
	}
	return s
}

func TestParseOffer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sdp   string
		want  Offer
		noG11 bool
	}{
		{"pcmu", offerSDP("127.0.0.1", "m=audio 6000 RTP/AVP 0"), Offer{Remote: netip.MustParseAddrPort("127.0.0.1:6000"), PT: 0, Codec: PCMU, Sends: true, Hears: true}, false},
		{"pcma first of two", offerSDP("127.0.0.1", "m=audio 6000 RTP/AVP 8 0 101", "rtpmap:101 telephone-event/8000"), Offer{Remote: netip.MustParseAddrPort("127.0.0.1:6000"), PT: 8, Codec: PCMA, Sends: true, Hears: true}, false},
		{"skips others", offerSDP("10.0.0.9", "m=audio 7000 RTP/AVP 9 18 0"), Offer{Remote: netip.MustParseAddrPort("10.0.0.9:7000"), PT: 0, Codec: PCMU, Sends: true, Hears: true}, false},
		{"dynamic pcma", offerSDP("10.0.0.9", "m=audio 7000 RTP/AVP 112", "rtpmap:112 PCMA/8000"), Offer{Remote: netip.MustParseAddrPort("10.0.0.9:7000"), PT: 112, Codec: PCMA, Sends: true, Hears: true}, false},
		{"sendonly", offerSDP("127.0.0.1", "m=audio 6000 RTP/AVP 0", "sendonly"), Offer{Remote: netip.MustParseAddrPort("127.0.0.1:6000"), PT: 0, Codec: PCMU, Sends: true}, false},
		{"media-level connection", "v=0\r\no=c 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 6002 RTP/AVP 8\r\nc=IN IP4 127.0.0.2\r\n", Offer{Remote: netip.MustParseAddrPort("127.0.0.2:6002"), PT: 8, Codec: PCMA, Sends: true, Hears: true}, false},
		{"ipv6", "v=0\r\no=c 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n", Offer{Remote: netip.MustParseAddrPort("[::1]:6000"), PT: 0, Codec: PCMU, Sends: true, Hears: true}, false},
		{"no g711", offerSDP("127.0.0.1", "m=audio 6000 RTP/AVP 9 18"), Offer{}, true},
		{"video only", offerSDP("127.0.0.1", "m=video 6000 RTP/AVP 96"), Offer{}, true},
		{"rejected stream", offerSDP("127.0.0.1", "m=audio 0 RTP/AVP 0"), Offer{}, true},
		{"srtp", offerSDP("127.0.0.1", "m=audio 6000 RTP/SAVP 0"), Offer{}, true},
		{"no connection", offerSDP("", "m=audio 6000 RTP/AVP 0"), Offer{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseOffer([]byte(tc.sdp))
			if tc.noG11 {
				if !errors.Is(err, ErrNoG711) {
					t.Fatalf("%+v %v, want ErrNoG711", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%+v %v, want %+v", got, err, tc.want)
			}
		})
	}
	if _, err := ParseOffer([]byte("not sdp")); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestAnswer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		offer Offer
		local string
		want  []string
	}{
		{"pcmu", Offer{PT: 0, Codec: PCMU, Sends: true, Hears: true}, "127.0.0.1:40000", []string{"c=IN IP4 127.0.0.1", "m=audio 40000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv"}},
		{"pcma recvonly", Offer{PT: 8, Codec: PCMA, Sends: true}, "10.1.2.3:40002", []string{"c=IN IP4 10.1.2.3", "m=audio 40002 RTP/AVP 8", "a=rtpmap:8 PCMA/8000", "a=recvonly"}},
		{"dynamic", Offer{PT: 112, Codec: PCMA, Sends: true, Hears: true}, "127.0.0.1:40004", []string{"m=audio 40004 RTP/AVP 112", "a=rtpmap:112 PCMA/8000"}},
		{"ipv6", Offer{PT: 0, Codec: PCMU, Sends: true, Hears: true}, "[::1]:40006", []string{"c=IN IP6 ::1", "o=tandem 42 42 IN IP6 ::1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Answer(tc.offer, netip.MustParseAddrPort(tc.local), 42)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w+"\r\n") {
					t.Fatalf("answer lacks %q:\n%s", w, b)
				}
			}
			var sd sdp.SessionDescription
			if err := sd.Unmarshal(b); err != nil || len(sd.MediaDescriptions) != 1 {
				t.Fatalf("the answer does not parse back: %v\n%s", err, b)
			}
		})
	}
}

func TestG711(t *testing.T) {
	for _, tc := range []struct {
		codec string
		b     byte
		want  int16
	}{
		{PCMU, 0xff, 0}, {PCMU, 0x7f, 0}, {PCMU, 0x00, -32124}, {PCMU, 0x80, 32124},
		{PCMA, 0xd5, 8}, {PCMA, 0x55, -8}, {PCMA, 0x2a, -32256}, {PCMA, 0xaa, 32256},
	} {
		if got := Decode(tc.codec, tc.b); got != tc.want {
			t.Errorf("%s %#x: %d, want %d", tc.codec, tc.b, got, tc.want)
		}
	}
	// Every byte survives decode then encode; every sample comes back
	// within its segment's step.
	for _, codec := range []string{PCMU, PCMA} {
		for b := 0; b < 256; b++ {
			if codec == PCMU && b == 0x7f { // -0: encodes as +0
				continue
			}
			if got := Encode(codec, Decode(codec, byte(b))); got != byte(b) {
				t.Errorf("%s %#x: back %#x", codec, b, got)
			}
		}
		for _, s := range []int{0, 1, -1, 100, -100, 1000, -1000, 12345, -12345, 32767, -32768} {
			got := int(Decode(codec, Encode(codec, int16(s))))
			if d := got - s; d > 1100 || d < -1100 || (abs(s) < 200 && (d > 16 || d < -16)) {
				t.Errorf("%s %d: back %d", codec, s, got)
			}
		}
	}
	if Silence(PCMU) != Encode(PCMU, 0) || Silence(PCMA) != Encode(PCMA, 0) {
		t.Error("silence is not a zero sample")
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestWAV(t *testing.T) {
	for _, tc := range []struct {
		codec string
		in    []byte
	}{
		{PCMU, nil}, {PCMU, []byte{0xff, 0x00, 0x80}}, {PCMA, bytes.Repeat([]byte{0xd5}, 8000)},
	} {
		w := WAV(tc.codec, tc.in)
		le := binary.LittleEndian
		if len(w) != 44+2*len(tc.in) || string(w[0:4]) != "RIFF" || string(w[8:16]) != "WAVEfmt " || string(w[36:40]) != "data" ||
			le.Uint32(w[4:]) != uint32(len(w)-8) || le.Uint16(w[20:]) != 1 || le.Uint16(w[22:]) != 1 || le.Uint32(w[24:]) != 8000 ||
			le.Uint32(w[28:]) != 16000 || le.Uint16(w[34:]) != 16 || le.Uint32(w[40:]) != uint32(2*len(tc.in)) {
			t.Fatalf("%s %d bytes: bad header % x", tc.codec, len(tc.in), w[:44])
		}
		for i, b := range tc.in {
			if got := int16(le.Uint16(w[44+2*i:])); got != Decode(tc.codec, b) {
				t.Fatalf("sample %d: %d", i, got)
			}
		}
	}
}

// rtpPacket is one packet of the test's caller.
type rtpPacket struct {
	pt   uint8
	ssrc uint32
	seq  uint16
	ts   uint32
	data []byte
}

func TestRecord(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 160), bytes.Repeat([]byte{2}, 160)
	sil := Silence(PCMA)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	gap := bytes.Repeat([]byte{sil}, 160)
	for _, tc := range []struct {
		name     string
		packets  []rtpPacket
		max      int
		want     []byte
		full     bool
		stranger bool // sent from another address than the offer's
	}{
		{"in order", []rtpPacket{{8, 1, 1, 1000, a}, {8, 1, 2, 1160, b}}, 8000, cat(a, b), false, false},
		{"late packet in place", []rtpPacket{{8, 1, 1, 1000, a}, {8, 1, 3, 1320, a}, {8, 1, 2, 1160, b}}, 8000, cat(a, b, a), false, false},
		// The first packet anchors the timeline: one from before it is
		// left out.
		{"before the first", []rtpPacket{{8, 1, 2, 1160, b}, {8, 1, 1, 1000, a}}, 8000, b, false, false},
		{"gap is silence", []rtpPacket{{8, 1, 1, 1000, a}, {8, 1, 3, 1320, b}}, 8000, cat(a, gap, b), false, false},
		{"other payload types left out", []rtpPacket{{8, 1, 1, 1000, a}, {101, 1, 2, 1160, []byte{1, 2, 3, 4}}, {0, 1, 3, 1160, b}}, 8000, a, false, false},
		{"timestamp wraps", []rtpPacket{{8, 1, 1, 0xffffff60, a}, {8, 1, 2, 0x00000000, b}}, 8000, cat(a, b), false, false},
		{"new ssrc continues", []rtpPacket{{8, 1, 1, 1000, a}, {8, 2, 9, 50, b}}, 8000, cat(a, b), false, false},
		{"bounded", []rtpPacket{{8, 1, 1, 1000, a}, {8, 1, 2, 1160, b}, {8, 1, 3, 1320, a}}, 200, cat(a, b[:40]), true, false},
		{"stranger ignored", []rtpPacket{{8, 1, 1, 1000, a}}, 8000, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			caller, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer caller.Close()
			want := "127.0.0.1"
			if tc.stranger {
				want = "127.0.0.2"
			}
			o := Offer{Remote: netip.AddrPortFrom(netip.MustParseAddr(want), uint16(caller.LocalAddr().(*net.UDPAddr).Port)), PT: 8, Codec: PCMA, Sends: true, Hears: true}
			s, err := Listen(netip.MustParseAddr("127.0.0.1"), o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Local().Port()%2 != 0 {
				t.Fatalf("odd RTP port %d", s.Local().Port())
			}
			for _, p := range tc.packets {
				raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: p.pt, SSRC: p.ssrc, SequenceNumber: p.seq, Timestamp: p.ts}, Payload: p.data}).Marshal()
				if _, err := caller.WriteToUDPAddrPort(raw, s.Local()); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			rec, err := s.Record(ctx, tc.max)
			if tc.want == nil {
				if !errors.Is(err, ErrNoAudio) {
					t.Fatalf("%v %d bytes, want ErrNoAudio", err, len(rec.Audio))
				}
				return
			}
			if err != nil || !bytes.Equal(rec.Audio, tc.want) || rec.Full != tc.full {
				t.Fatalf("%v full %v %d bytes % x…, want %d bytes full %v", err, rec.Full, len(rec.Audio), rec.Audio[:min(8, len(rec.Audio))], len(tc.want), tc.full)
			}
		})
	}
}

// Play sends the beep as paced 20 ms packets of the offer's payload
// type, in sequence.
func TestPlay(t *testing.T) {
	for _, codec := range []string{PCMU, PCMA} {
		caller, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		pt := uint8(0)
		if codec == PCMA {
			pt = 8
		}
		o := Offer{Remote: caller.LocalAddr().(*net.UDPAddr).AddrPort(), PT: pt, Codec: codec, Sends: true, Hears: true}
		s, err := Listen(netip.MustParseAddr("127.0.0.1"), o)
		if err != nil {
			t.Fatal(err)
		}
		beep := Beep(codec, 100*time.Millisecond)
		if len(beep) != 800 {
			t.Fatalf("beep of %d samples", len(beep))
		}
		start := time.Now()
		if err := s.Play(context.Background(), beep); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) < 80*time.Millisecond {
			t.Fatalf("not paced: %v", time.Since(start))
		}
		var got []byte
		var last uint16
		for i := 0; i < 5; i++ {
			caller.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 1500)
			n, err := caller.Read(buf)
			if err != nil {
				t.Fatalf("packet %d: %v", i, err)
			}
			var p rtp.Packet
			if err := p.Unmarshal(buf[:n]); err != nil || p.PayloadType != pt || len(p.Payload) != 160 || (i > 0 && p.SequenceNumber != last+1) || p.Marker != (i == 0) {
				t.Fatalf("packet %d: %v %+v", i, err, p.Header)
			}
			last = p.SequenceNumber
			got = append(got, p.Payload...)
		}
		if !bytes.Equal(got, beep) {
			t.Fatal("the beep arrived changed")
		}
		s.Close()
		caller.Close()
	}
}

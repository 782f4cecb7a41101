package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Offer is what the edge takes from a caller's SDP offer: where its RTP
// goes, the G.711 payload type chosen, and whether the caller sends
// (sendonly/sendrecv) and receives (recvonly/sendrecv).
type Offer struct {
	Remote netip.AddrPort
	PT     uint8
	Codec  string // PCMU or PCMA
	Sends  bool
	Hears  bool
}

// ErrNoG711 refuses an offer with no usable G.711 audio stream (the
// caller gets 488 Not Acceptable Here).
var ErrNoG711 = errors.New("no G.711 audio stream in the offer")

// ParseOffer reads a caller's SDP offer: its first audio stream over
// RTP/AVP with a port, and of its formats, in the caller's order of
// preference, the first that is PCMU or PCMA at 8 kHz (static 0 or 8,
// or a dynamic type mapped so).
func ParseOffer(body []byte) (Offer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return Offer{}, fmt.Errorf("parsing the SDP offer: %w", err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 || strings.Join(md.MediaName.Protos, "/") != "RTP/AVP" {
			continue
		}
		ci := md.ConnectionInformation
		if ci == nil {
			ci = sd.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return Offer{}, fmt.Errorf("%w: no connection address", ErrNoG711)
		}
		ip, err := netip.ParseAddr(ci.Address.Address)
		if err != nil {
			return Offer{}, fmt.Errorf("%w: connection address %q: %v", ErrNoG711, ci.Address.Address, err)
		}
		if md.MediaName.Port.Value < 1 || md.MediaName.Port.Value > 65535 {
			return Offer{}, fmt.Errorf("%w: port %d", ErrNoG711, md.MediaName.Port.Value)
		}
		o := Offer{Remote: netip.AddrPortFrom(ip, uint16(md.MediaName.Port.Value)), Sends: true, Hears: true}
		// The session's direction, which the stream's overrides.
		for _, get := range []func(string) (string, bool){sd.Attribute, md.Attribute} {
			for _, dir := range []string{"sendonly", "recvonly", "inactive", "sendrecv"} {
				if _, ok := get(dir); ok {
					o.Sends, o.Hears = dir == "sendonly" || dir == "sendrecv", dir == "recvonly" || dir == "sendrecv"
				}
			}
		}
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				continue
			}
			codec := ""
			switch {
			case pt == 0:
				codec = PCMU
			case pt == 8:
				codec = PCMA
			case pt >= 96:
				codec = rtpmapCodec(md, f)
			}
			if codec != "" {
				o.PT, o.Codec = uint8(pt), codec
				return o, nil
			}
		}
		return Offer{}, fmt.Errorf("%w: formats %v", ErrNoG711, md.MediaName.Formats)
	}
	return Offer{}, ErrNoG711
}

// rtpmapCodec is the G.711 codec a dynamic payload type is mapped to
// ("" when none).
func rtpmapCodec(md *sdp.MediaDescription, pt string) string {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		f, enc, ok := strings.Cut(a.Value, " ")
		if !ok || f != pt {
			continue
		}
		switch strings.ToUpper(enc) {
		case "PCMU/8000", "PCMU/8000/1":
			return PCMU
		case "PCMA/8000", "PCMA/8000/1":
			return PCMA
		}
	}
	return ""
}

// Answer is the SDP answer to o: one audio stream at local over RTP/AVP
// with the chosen payload type, receiving (recvonly when the caller
// only sends), sessionID naming the session in its origin line.
func Answer(o Offer, local netip.AddrPort, sessionID uint64) ([]byte, error) {
	addrType := "IP4"
	if local.Addr().Is6() && !local.Addr().Is4In6() {
		addrType = "IP6"
	}
	ip := local.Addr().Unmap().String()
	name := "PCMU"
	if o.Codec == PCMA {
		name = "PCMA"
	}
	dir := "sendrecv"
	if !o.Hears {
		dir = "recvonly"
	}
	pt := strconv.Itoa(int(o.PT))
	sd := sdp.SessionDescription{
		Origin: sdp.Origin{Username: "tandem", SessionID: sessionID, SessionVersion: sessionID,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: ip},
		SessionName:           "Tandem voicemail",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: ip}},
		TimeDescriptions:      []sdp.TimeDescription{{Timing: sdp.Timing{}}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: int(local.Port())}, Protos: []string{"RTP", "AVP"}, Formats: []string{pt}},
			Attributes: []sdp.Attribute{
				{Key: "rtpmap", Value: pt + " " + name + "/8000"},
				{Key: "ptime", Value: "20"},
				{Key: dir},
			},
		}},
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("writing the SDP answer: %w", err)
	}
	return b, nil
}

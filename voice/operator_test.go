package voice

import (
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func nilLeg() *sipgo.DialogClientSession { return &sipgo.DialogClientSession{} }

func TestReplacesOf(t *testing.T) {
	for _, tc := range []struct {
		referTo string
		want    bool
	}{
		{"<sip:2002@127.0.0.1>", false},
		{"<sip:2002@127.0.0.1;transport=udp>", false},
		{"<sip:2002@127.0.0.1?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>", true},
		{"<sip:2002@127.0.0.1?replaces=abc>", true},
		{"<sip:2002@127.0.0.1?Subject=hi>", false},
	} {
		var uri sip.Uri
		if _, err := sip.ParseAddressValue(tc.referTo, &uri, nil); err != nil {
			t.Fatalf("%s: %v", tc.referTo, err)
		}
		if got := replacesOf(uri); got != tc.want {
			t.Errorf("replacesOf(%s) = %v, want %v", tc.referTo, got, tc.want)
		}
	}
}

// What rings for a call, by its state: a confirmed call rings again only
// once requeued or while a transfer rings; a consultation until its
// target answered.
func TestSettledFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *call
		key  string
		want bool
	}{
		{"new queue call", &call{}, "a1", false},
		{"answered", &call{answered: true}, "a1", true},
		{"requeued", &call{answered: true, requeued: true}, "a1", false},
		{"transfer ringing", &call{answered: true, transferTo: "2002"}, "xfer:2002", false},
		{"ended", &call{ended: true, requeued: true}, "a1", true},
		{"consult ringing", &call{answered: true, consult: &consult{id: "c2"}}, consultKey + "2002", false},
		{"consult answered", &call{answered: true, consult: &consult{id: "c2", leg: nilLeg()}}, consultKey + "2002", true},
		{"no consult", &call{answered: true}, consultKey + "2002", true},
	} {
		if got := tc.c.settledFor(tc.key); got != tc.want {
			t.Errorf("%s: settledFor(%s) = %v, want %v", tc.name, tc.key, got, tc.want)
		}
	}
}

func TestWaitsForPhone(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    *call
		from string
		want bool
	}{
		{"parked, retrieved from supervision", &call{answered: true}, "supervision", true},
		{"held by the console, its phone still bridged", &call{answered: true, leg: nilLeg()}, "hold", false},
		{"held after a busy transfer", &call{answered: true, requeued: true}, "hold", true},
		{"transfer ringing, retrieved", &call{answered: true, transferTo: "2002"}, "supervision", true},
		{"coupled", &call{answered: true, peer: &call{}}, "supervision", false},
		{"not answered", &call{}, "personal", false},
	} {
		if got := tc.c.waitsForPhone(tc.from); got != tc.want {
			t.Errorf("%s: waitsForPhone(%s) = %v, want %v", tc.name, tc.from, got, tc.want)
		}
	}
}

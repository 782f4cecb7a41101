package voice

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/contactcenter"
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

// A new leader also releases the line-2 consultation of an orphaned SIP
// call (its id is the console's, not a SIP one): neither is left on the
// operator's lines.
func TestNewLeaderReleasesOrphanConsultation(t *testing.T) {
	r := newRig(t)
	doc, err := contactcenter.ParseDocument([]byte(testDoc + `users:
  - {id: ann, name: Ann, extension: "2001"}
agents:
  - {id: a1, user: ann, extension: "2001", queues: [sales]}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		typ     string
		payload any
	}{
		{contactcenter.TypeConfigApply, contactcenter.ApplyRequest{Document: doc}},
		{contactcenter.TypeAgentLogin, map[string]string{"agent": "a1"}},
		{contactcenter.TypeAgentLogin, map[string]string{"agent": "a1"}},
		{contactcenter.TypeCallIncoming, contactcenter.IncomingRequest{Call: "sip-0123456789ab", Queue: "sales", Number: "+441615550100"}},
		{contactcenter.TypeCallAnswer, map[string]string{"agent": "a1"}},
		{contactcenter.TypeCallConsult, contactcenter.ConsultRequest{Agent: "a1", Call: "consult-1", Target: "2002"}},
		{contactcenter.TypeCallRemoteAnswer, contactcenter.CallRequest{Call: "consult-1"}},
	}
	for _, st := range steps {
		if _, err := r.store.Propose(ctx, st.typ, st.payload); err != nil {
			t.Fatalf("%s: %v", st.typ, err)
		}
	}
	for _, leader := range []bool{false, true} {
		r.store.mu.Lock()
		r.store.leader = leader
		r.store.mu.Unlock()
		r.s.checkLeader()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, lines := 0, ""
		r.e.View(func(st *contactcenter.State) {
			n = len(st.Calls)
			lines = st.Agents["a1"].Line1 + st.Agents["a1"].Line2
		})
		if n == 0 && lines == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d calls, lines %q", n, lines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package voice

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tandemcc/tandem/contactcenter"
)

// Who may call a queue: a trusted gateway, or a phone with credentials;
// anyone else is challenged (401) and refused with wrong credentials; a
// request-URI naming no queue is a 404.
func TestInviteTrust(t *testing.T) {
	invite := func(r *rig, user, callID, authz string) *sip.Response {
		req := r.build(reqOpts{method: "INVITE", ruri: "sip:" + user + "@127.0.0.1", to: "2001", callID: callID,
			extra: []string{"Contact: <sip:caller@127.0.0.1:5070>"}, authz: authz})
		return r.send(req)
	}
	r := newRig(t)
	if err := r.s.Listen(); err != nil {
		t.Fatal(err)
	}
	res := invite(r, "sales", "untrusted", "")
	if res.StatusCode != 401 || !strings.Contains(res.GetHeader("WWW-Authenticate").Value(), `realm="tandem"`) {
		t.Fatalf("untrusted caller: %d", res.StatusCode)
	}
	if res := invite(r, "nosuch", "noqueue", ""); res.StatusCode != 404 {
		t.Fatalf("no such queue: %d", res.StatusCode)
	}
	ch := challengeOf(t, res, "MD5")
	c := *ch
	a := authz(t, &c, "2001-desk", "wrong-password", 1)
	if res := invite(r, "sales", "wrongpw", a); res.StatusCode != 403 {
		t.Fatalf("wrong credentials: %d", res.StatusCode)
	}
	if got := r.store.taken(); len(got) != 0 {
		t.Fatalf("refused INVITEs proposed %v", got)
	}
	// A re-INVITE (To tag) of a dialog this node does not hold: 481.
	req := r.build(reqOpts{method: "INVITE", ruri: "sip:sales@127.0.0.1", callID: "reinvite", extra: []string{"Contact: <sip:c@127.0.0.1:5070>"}})
	req.To().Params.Add("tag", "x")
	if res := r.send(req); res.StatusCode != 481 {
		t.Fatalf("re-INVITE: %d", res.StatusCode)
	}

	tr := newRig(t, func(c *Config) { c.Trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	if err := tr.s.Listen(); err != nil {
		t.Fatal(err)
	}
	if res := invite(tr, "nosuch", "trusted-noqueue", ""); res.StatusCode != 404 {
		t.Fatalf("trusted, no such queue: %d", res.StatusCode)
	}
}

func TestEngineCallIDStable(t *testing.T) {
	r := newRig(t)
	a := r.build(reqOpts{method: "INVITE", callID: "same"})
	b := r.build(reqOpts{method: "INVITE", callID: "same"})
	c := r.build(reqOpts{method: "INVITE", callID: "other"})
	if engineCallID(a) != engineCallID(b) || engineCallID(a) == engineCallID(c) {
		t.Fatal("engine call ids are not a function of Call-ID and From tag")
	}
	if id := engineCallID(a); len(id) > 64 || !strings.HasPrefix(id, "sip-") {
		t.Fatalf("id %q", id)
	}
}

// A new leader releases the SIP calls whose dialogs died with the former
// leader (never left queued or ringing forever), and only those.
func TestNewLeaderReleasesOrphanCalls(t *testing.T) {
	r := newRig(t)
	for _, id := range []string{"sip-0123456789ab", "web-1"} {
		if _, err := r.store.Propose(context.Background(), contactcenter.TypeCallIncoming,
			contactcenter.IncomingRequest{Call: id, Queue: "sales", Number: "+441615550100"}); err != nil {
			t.Fatal(err)
		}
	}
	r.store.mu.Lock()
	r.store.leader = false
	r.store.mu.Unlock()
	r.s.checkLeader()
	r.store.mu.Lock()
	r.store.leader = true
	r.store.mu.Unlock()
	r.s.checkLeader()
	deadline := time.Now().Add(10 * time.Second)
	live := func() (sipCall, other bool) {
		r.e.View(func(st *contactcenter.State) {
			_, sipCall = st.Calls["sip-0123456789ab"]
			_, other = st.Calls["web-1"]
		})
		return
	}
	for {
		sipCall, other := live()
		if !sipCall {
			if !other {
				t.Fatal("a call that did not come over SIP was released")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the orphaned SIP call is still live")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if q, _ := r.e.Queue("sales"); q.Abandoned != 1 {
		t.Fatalf("queue stats %+v, want the released call abandoned", q)
	}
}

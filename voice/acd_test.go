package voice

import (
	"context"
	"net"
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
	a := authzFor(t, &c, "INVITE", "sip:sales@127.0.0.1", "2001-desk", "wrong-password", 1)
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

// The caller of a call whose dialog died with the former leader is told
// by the new one: call.incoming carries the caller's transaction (Edge),
// and the new leader sends the caller a 480 that matches it (same Via
// branch, From, To with the tag of the 1xx, Call-ID, CSeq) over UDP. A
// call already answered, or one that came over TCP, gets nothing.
func TestNewLeaderTellsOrphanCallers(t *testing.T) {
	caller, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	req := (&rig{t: t}).build(reqOpts{method: "INVITE", ruri: "sip:sales@127.0.0.1", callID: "orphan-1",
		extra: []string{"Contact: <sip:c@127.0.0.1:5070>"}})
	req.SetSource(caller.LocalAddr().String())
	req.SetTransport("UDP")
	req.To().Params.Add("tag", "ourtag")
	edge := callerEdge(req)
	if edge == "" || len(edge) > contactcenter.MaxEdgeLen {
		t.Fatalf("edge %q", edge)
	}
	tcp := req.Clone()
	tcp.SetTransport("TCP")
	if msg, _ := releaseResponse(callerEdge(tcp)); msg != "" {
		t.Fatal("a TCP caller would be answered over UDP")
	}
	for _, bad := range []string{"", "{", `{"src":"127.0.0.1:1","tr":"UDP","via":[]}`,
		`{"src":"127.0.0.1:1","tr":"UDP","via":["SIP/2.0/UDP x\r\nEvil: 1"],"from":"a","to":"b","cid":"c","cseq":1}`} {
		if msg, _ := releaseResponse(bad); msg != "" {
			t.Fatalf("edge %q gave a response", bad)
		}
	}

	r := newRig(t)
	if err := r.s.Listen(); err != nil {
		t.Fatal(err)
	}
	for _, in := range []contactcenter.IncomingRequest{
		{Call: "sip-0123456789ab", Queue: "sales", Number: "+441615550100", Edge: edge},
		{Call: "sip-0123456789ac", Queue: "sales", Number: "+441615550101", Edge: callerEdge(tcp)},
	} {
		if _, err := r.store.Propose(context.Background(), contactcenter.TypeCallIncoming, in); err != nil {
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

	caller.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := caller.ReadFrom(buf)
	if err != nil {
		t.Fatalf("the caller heard nothing: %v", err)
	}
	msg, err := sip.ParseMessage(buf[:n])
	if err != nil {
		t.Fatalf("not SIP: %v\n%s", err, buf[:n])
	}
	res, ok := msg.(*sip.Response)
	if !ok || res.StatusCode != 480 {
		t.Fatalf("want a 480, got %s", buf[:n])
	}
	tag, _ := res.To().Params.Get("tag")
	if res.CallID().Value() != "orphan-1" || res.CSeq().SeqNo != req.CSeq().SeqNo || res.CSeq().MethodName != sip.INVITE ||
		res.Via().Params.GetOr("branch", "") != req.Via().Params.GetOr("branch", "") || tag != "ourtag" ||
		res.From().Value() != req.From().Value() {
		t.Fatalf("the 480 does not match the caller's transaction:\n%s", buf[:n])
	}
	caller.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := caller.ReadFrom(buf); err == nil {
		t.Fatalf("a second message: %s", buf)
	}
}

// Elected but not caught up (the barrier of its term not applied): the
// node does not lead SIP yet — it answers 503, not a redirect to itself —
// and does not release calls it may not know of; once Ready it leads.
func TestLeadsOnlyWhenReady(t *testing.T) {
	r := newRig(t)
	r.store.mu.Lock()
	r.store.leader = false
	r.store.mu.Unlock()
	r.s.checkLeader()
	r.store.mu.Lock()
	r.store.leader, r.store.catchingUp = true, true
	r.store.mu.Unlock()
	r.s.checkLeader()
	if r.s.leading.Load() {
		t.Fatal("leading before Ready")
	}
	if res := r.send(r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}})); res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Fatalf("while catching up: %d", res.StatusCode)
	}
	r.store.mu.Lock()
	r.store.catchingUp = false
	r.store.mu.Unlock()
	r.s.checkLeader()
	if !r.s.leading.Load() {
		t.Fatal("not leading once Ready")
	}
	if res := r.send(r.build(reqOpts{contacts: []string{"<sip:2001@127.0.0.1:5070>"}})); res.StatusCode != 401 {
		t.Fatalf("once Ready: %d", res.StatusCode)
	}
}

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/contactcenter"
)

// Operator operations with real phones (issue 15.5): every path is sipp
// phones against a real tandemd, the SIP each needs expected by the
// scenarios, and the engine's state read through the console API.

// operatorConfig is parkConfig with short return times: a parked call
// comes back after 2 s, a transfer nobody answers after 3 s.
const operatorConfig = parkConfig + `
settings: {park_return_seconds: 2, auto_return_seconds: 3}
`

// opNode starts a one-node cluster with SIP, applies operatorConfig,
// registers a phone for each extension (desk, from its own port) and
// logs agent a1 in.
func opNode(t *testing.T, name string, exts ...string) (*node, map[string]int) {
	t.Helper()
	n := newNode(t, name, withArgs("--sip-trusted", "127.0.0.1"))
	startSIPNode(t, n)
	n.apply(operatorConfig).ok(t)
	ports := map[string]int{}
	for _, ext := range exts {
		ports[ext] = freePort(t)
		if r := sipp(t, n.sipAddr, "register.xml", "u1", "-key", "ext", ext, "-au", ext+"-desk", "-ap", "desk-password-"+ext,
			"-p", fmt.Sprint(ports[ext])); r.code != 0 {
			t.Fatalf("REGISTER %s: %v", ext, r)
		}
	}
	for i := 0; i < 2; i++ { // disconnected → paused → connected
		n.op(t, "login", `{"agent":"a1"}`)
	}
	return n, ports
}

// op runs a console operation that must succeed and returns its answer.
func (n *node) op(t *testing.T, op, body string) []byte {
	t.Helper()
	code, out, err := n.do("POST", "/v1/console/ops/"+op, true, []byte(body), "application/json")
	if err != nil || code != 200 {
		t.Fatalf("%s %s: %d %s %v", op, body, code, out, err)
	}
	return out
}

// events is the count of one engine event type on n.
func (n *node) events(t *testing.T, typ string) float64 {
	return nodeMetric(t, n, `tandem_events_total{type="`+typ+`"}`)
}

// waitEvents waits until each event type reached its count.
func (n *node) waitEvents(t *testing.T, what string, want map[string]float64) {
	t.Helper()
	waitFor(t, waitShort, what, func() (bool, string) {
		var b strings.Builder
		ok := true
		for typ, v := range want {
			got := n.events(t, typ)
			ok = ok && got == v
			fmt.Fprintf(&b, "%s %v (want %v) ", typ, got, v)
		}
		return ok, b.String()
	})
}

// opState is operator a1's state in the console: its lines and the
// calls it refers to, and every supervised call.
type opState struct {
	Agent struct {
		Line1    string   `json:"line1"`
		Line2    string   `json:"line2"`
		Personal []string `json:"personal"`
	} `json:"agent"`
	Calls map[string]struct {
		Place string `json:"place"`
		State string `json:"state"`
		Kind  string `json:"kind"`
		Peer  string `json:"peer"`
	} `json:"calls"`
	Supervised []contactcenter.SupervisedCall `json:"supervised"`
}

func (n *node) opState(t *testing.T) opState {
	t.Helper()
	code, b, err := n.get("/v1/console/state?agent=a1", true)
	if err != nil || code != 200 {
		t.Fatalf("console state: %d %s %v", code, b, err)
	}
	var st opState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("console state: %v\n%s", err, b)
	}
	return st
}

// talking waits until a1's line 1 carries a call in conversation and
// returns its id.
func (n *node) talking(t *testing.T, what string) string {
	t.Helper()
	id := ""
	waitFor(t, waitShort, what, func() (bool, string) {
		st := n.opState(t)
		c, ok := st.Calls[st.Agent.Line1]
		id = st.Agent.Line1
		return ok && c.State == contactcenter.CallTalking, fmt.Sprintf("line1 %q %+v", st.Agent.Line1, c)
	})
	return id
}

// sipCalls waits until the SIP edge counted a call outcome n times (the
// SIP it sends after the commit done).
func (n *node) sipCalls(t *testing.T, outcome string, want float64) {
	t.Helper()
	waitFor(t, waitShort, "SIP calls "+outcome, func() (bool, string) {
		v := nodeMetric(t, n, `tandem_sip_calls_total{outcome="`+outcome+`"}`)
		return v == want, fmt.Sprint(outcome, " ", v)
	})
}

func mustRun(t *testing.T, what string, r sippRun) sippRun {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: %v\n%s", what, r, r.trace("messages"))
	}
	return r
}

func mustSee(t *testing.T, what string, r sippRun, s string) {
	t.Helper()
	if !strings.Contains(r.trace("messages"), s) {
		t.Fatalf("%s: %q not in the SIP seen by %s:\n%s", what, s, r.scenario, r.trace("messages"))
	}
}

// A queue call parked by the operator (F7, call.park) is not picked up:
// after park_return_seconds the engine returns it to the operator's
// personal queue and offers it to them; the operator's phone rings again
// (a second INVITE), answers, and the caller — whose dialog stayed up —
// is re-INVITEd with the phone's SDP.
func TestSIPParkReturnWithSipp(t *testing.T) {
	n, ports := opNode(t, "sippr", "2001")
	agent := sippBackground(t, n.sipAddr, "agent_uas.xml", ports["2001"], "-key", "ext", "2001", "-m", "2")
	caller := sippBackground(t, n.sipAddr, "caller_parked.xml", freePort(t), "-key", "queue", "sales")
	id := n.talking(t, "the agent to answer")
	n.op(t, "park", `{"agent":"a1","note":"back soon"}`)
	st := n.opState(t)
	if len(st.Supervised) != 1 || st.Supervised[0].Call != id || st.Supervised[0].Type != "P" {
		t.Fatalf("the parked call is not in supervision: %+v", st.Supervised)
	}
	n.waitEvents(t, "the park to return and the operator to answer again", map[string]float64{
		"call.returned": 1, "call.answered": 2})
	if got := n.talking(t, "the returned call on line 1"); got != id {
		t.Fatalf("line 1 carries %q, want the returned call %q", got, id)
	}
	c := mustRun(t, "caller", caller())
	mustRun(t, "agent phone (two INVITEs)", agent())
	mustSee(t, "the caller was not re-INVITEd with the operator's phone's SDP", c, "o=agent")
	n.waitEvents(t, "the end of the call", map[string]float64{"call.ended": 1})
}

// A blind transfer to a busy phone (486): the engine puts the caller on
// hold on the operator's free line 1 (call.transfer_busy, to hold); the
// operator's phone rings again at once, answers (call.retrieve
// committed) and the caller is re-INVITEd with its SDP — not left on
// hold. Then a transfer that nobody answers: after auto_return_seconds
// the engine returns the call to the operator, the target's phone gets
// CANCEL, the operator's phone rings and answers.
func TestSIPTransferReturnsToOperatorWithSipp(t *testing.T) {
	n, ports := opNode(t, "sipxb", "2001", "2002", "2003")
	agent := sippBackground(t, n.sipAddr, "agent_uas.xml", ports["2001"], "-key", "ext", "2001", "-m", "3")
	busy := sippBackground(t, n.sipAddr, "phone_busy.xml", ports["2002"], "-key", "ext", "2002")
	silent := sippBackground(t, n.sipAddr, "phone_cancelled.xml", ports["2003"], "-key", "ext", "2003")
	caller := sippBackground(t, n.sipAddr, "caller_chain.xml", freePort(t), "-key", "queue", "sales")
	id := n.talking(t, "the agent to answer")
	n.op(t, "transfer", `{"agent":"a1","target":"2002"}`)
	n.waitEvents(t, "the busy transfer back on hold and retrieved by the phone", map[string]float64{
		"call.transfer_busy": 1, "call.retrieved": 1})
	mustRun(t, "busy target", busy())
	n.sipCalls(t, "reoffered", 1) // the caller re-INVITEd with the operator's SDP
	if got := n.talking(t, "the call back in conversation on line 1"); got != id {
		t.Fatalf("line 1 carries %q, want %q", got, id)
	}
	n.op(t, "transfer", `{"agent":"a1","target":"2003"}`)
	n.waitEvents(t, "the unanswered transfer returned and answered", map[string]float64{
		"call.returned": 1, "call.answered": 2})
	mustRun(t, "unanswered target (INVITE, CANCEL)", silent())
	c := mustRun(t, "caller (two re-INVITEs)", caller())
	mustRun(t, "agent phone (three INVITEs)", agent())
	if strings.Count(c.trace("messages"), "o=agent") < 2 {
		t.Fatalf("the caller was not re-INVITEd twice with the operator's SDP:\n%s", c.trace("messages"))
	}
	n.waitEvents(t, "the end of the call", map[string]float64{"call.ended": 1})
}

// A chain (call.transfer with chain): the target's phone answers and the
// caller is re-INVITEd with its SDP; when the target hangs up the engine
// brings the caller back to the operator's personal queue, the
// operator's phone rings again, answers, and the caller is re-INVITEd
// with the operator's SDP.
func TestSIPChainBackWithSipp(t *testing.T) {
	n, ports := opNode(t, "sipch", "2001", "2002")
	agent := sippBackground(t, n.sipAddr, "agent_uas.xml", ports["2001"], "-key", "ext", "2001", "-m", "2")
	target := sippBackground(t, n.sipAddr, "target_hangs_up.xml", ports["2002"], "-key", "ext", "2002")
	caller := sippBackground(t, n.sipAddr, "caller_chain.xml", freePort(t), "-key", "queue", "sales")
	id := n.talking(t, "the agent to answer")
	n.op(t, "transfer", `{"agent":"a1","target":"2002","chain":true}`)
	waitFor(t, waitShort, "the chain connected in supervision", func() (bool, string) {
		st := n.opState(t)
		for _, s := range st.Supervised {
			if s.Call == id && s.Type == "C" && s.State == contactcenter.CallTalking {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", st.Supervised)
	})
	mustRun(t, "chain target (answers, hangs up)", target())
	n.waitEvents(t, "the chain back and the operator answering", map[string]float64{
		"call.returned": 1, "call.answered": 2})
	if got := n.talking(t, "the chained call back on line 1"); got != id {
		t.Fatalf("line 1 carries %q, want %q", got, id)
	}
	c := mustRun(t, "caller", caller())
	mustRun(t, "agent phone (two INVITEs)", agent())
	mustSee(t, "the caller was not re-INVITEd with the target's SDP", c, "o=target")
	mustSee(t, "the caller was not re-INVITEd with the operator's SDP", c, "o=agent")
	n.waitEvents(t, "the end of the call", map[string]float64{"call.ended": 1})
}

// An attended transfer: the operator consults extension 2002 on line 2
// (call.consult): 2002's phone rings with the operator's phone's SDP and
// answers; the operator's phone is re-INVITEd with 2002's SDP. The
// operator completes (call.complete): its phone gets BYE, the caller is
// re-INVITEd with 2002's SDP and 2002's phone with the caller's answer;
// the caller's BYE reaches 2002.
func TestSIPAttendedTransferWithSipp(t *testing.T) {
	n, ports := opNode(t, "sipat", "2001", "2002")
	agent := sippBackground(t, n.sipAddr, "agent_consult.xml", ports["2001"], "-key", "ext", "2001")
	target := sippBackground(t, n.sipAddr, "target_consult.xml", ports["2002"], "-key", "ext", "2002")
	caller := sippBackground(t, n.sipAddr, "caller_parked.xml", freePort(t), "-key", "queue", "sales")
	id := n.talking(t, "the agent to answer")
	consult := struct{ Call string }{"consult-1"}
	n.op(t, "consult", `{"agent":"a1","target":"2002","call":"consult-1"}`)
	waitFor(t, waitShort, "the consultation answered on line 2", func() (bool, string) {
		st := n.opState(t)
		c2 := st.Calls[st.Agent.Line2]
		return st.Agent.Line1 == id && st.Agent.Line2 == consult.Call && c2.State == contactcenter.CallTalking &&
			st.Calls[id].State == contactcenter.CallHeld, fmt.Sprintf("%+v", st)
	})
	n.sipCalls(t, "consulted", 1) // the operator's phone re-INVITEd with the target's SDP
	n.op(t, "complete", `{"agent":"a1"}`)
	a := mustRun(t, "agent phone (re-INVITE, BYE)", agent())
	c := mustRun(t, "caller", caller())
	tg := mustRun(t, "target phone (re-INVITE, BYE)", target())
	mustSee(t, "the operator's phone was not re-INVITEd with the target's SDP", a, "o=target")
	mustSee(t, "the target was not offered the operator's phone's SDP", tg, "o=agent")
	mustSee(t, "the caller was not re-INVITEd with the target's SDP", c, "o=target")
	mustSee(t, "the target was not re-INVITEd with the caller's answer", tg, "o=caller 53655765 2353687638")
	n.waitEvents(t, "the engine to count the attended transfer and both ends", map[string]float64{
		"call.consult_started": 1, "call.transferred": 1, "call.ended": 2})
	if st := n.opState(t); st.Agent.Line1 != "" || st.Agent.Line2 != "" {
		t.Fatalf("the operator's lines are not free: %+v", st.Agent)
	}
}

// Couple: the operator parks caller B, takes caller A and couples them
// (call.couple): the operator's phone gets BYE, A is re-INVITEd with B's
// SDP and B with A's answer; A hangs up and B gets BYE; the engine ends
// both calls.
func TestSIPCoupleWithSipp(t *testing.T) {
	n, ports := opNode(t, "sipcp", "2001")
	agent := sippBackground(t, n.sipAddr, "agent_uas.xml", ports["2001"], "-key", "ext", "2001", "-m", "2")
	b := sippBackground(t, n.sipAddr, "caller_coupled.xml", freePort(t), "-key", "queue", "sales", "-key", "who", "callerB")
	idB := n.talking(t, "the agent to answer B")
	// Park B for longer than the test: re-apply with a long park time.
	n.apply(parkConfig + "\nsettings: {park_return_seconds: 600}\n").ok(t)
	n.op(t, "park", `{"agent":"a1"}`)
	a := sippBackground(t, n.sipAddr, "caller_parked.xml", freePort(t), "-key", "queue", "sales")
	idA := n.talking(t, "the agent to answer A")
	if idA == idB {
		t.Fatal("A and B are the same call")
	}
	n.op(t, "couple", fmt.Sprintf(`{"agent":"a1","call":%q}`, idB))
	waitFor(t, waitShort, "the two calls bridged", func() (bool, string) {
		st := n.opState(t)
		return st.Agent.Line1 == "" && len(st.Supervised) == 0, fmt.Sprintf("%+v", st)
	})
	ra := mustRun(t, "caller A", a())
	rb := mustRun(t, "caller B", b())
	mustRun(t, "agent phone (two calls, two BYEs)", agent())
	mustSee(t, "A was not re-INVITEd with B's SDP", ra, "o=callerB")
	mustSee(t, "B was not re-INVITEd with A's answer", rb, "o=caller 53655765 2353687638")
	n.waitEvents(t, "the engine to end both coupled calls", map[string]float64{
		"call.coupled": 1, "call.ended": 2})
}

// A forward to voicemail whose caller offers no G.711 (G.729 only) is
// refused at once, 488 with a Warning saying why, and the call ends in
// the engine; nothing is deposited.
func TestSIPVoicemailNotAcceptableWithSipp(t *testing.T) {
	n, _ := opNode(t, "sipvm")
	n.op(t, "forwarding", `{"user":"ann","forwarding":{"unconditional":{"voicemail":true}}}`)
	r := sipp(t, n.sipAddr, "caller_not_acceptable.xml", "u1", "-key", "queue", "2001")
	msgs := r.trace("messages")
	if r.code != 0 || !strings.Contains(msgs, "SIP/2.0 488 Not Acceptable Here") || !strings.Contains(msgs, `399 tandem "Forward to voicemail: no G.711`) {
		t.Fatalf("the voicemail forward without G.711 is not a clean 488 with a Warning: %v\n%s", r, msgs)
	}
	n.waitEvents(t, "the call ended in the engine", map[string]float64{"call.ended": 1})
	if v := n.events(t, "voicemail.deposited"); v != 0 {
		t.Fatalf("a message was deposited: %v", v)
	}
	if v := nodeMetric(t, n, `tandem_sip_calls_total{outcome="voicemail_refused"}`); v != 1 {
		t.Fatalf("voicemail_refused counted %v", v)
	}
}

// Camp-on: the operator consults extension 2002, whose phone is busy
// (486: call.consult_busy), and camps the caller on it (call.camp_on):
// the operator's phone gets BYE and 2002 is rung again — busy once more,
// then, a pause later, it answers: the engine counts the call
// transferred and the caller is re-INVITEd with 2002's SDP.
func TestSIPCampOnWithSipp(t *testing.T) {
	n, ports := opNode(t, "sipco", "2001", "2002")
	n.apply(parkConfig + "\nsettings: {auto_return_seconds: 600}\n").ok(t)
	agent := sippBackground(t, n.sipAddr, "agent_uas.xml", ports["2001"], "-key", "ext", "2001")
	busy := sippBackground(t, n.sipAddr, "phone_busy.xml", ports["2002"], "-key", "ext", "2002", "-m", "2")
	caller := sippBackground(t, n.sipAddr, "caller_parked.xml", freePort(t), "-key", "queue", "sales")
	id := n.talking(t, "the agent to answer")
	n.op(t, "consult", `{"agent":"a1","target":"2002","call":"consult-1"}`)
	n.waitEvents(t, "the consultation busy", map[string]float64{"call.consult_busy": 1})
	n.op(t, "camp_on", `{"agent":"a1"}`)
	mustRun(t, "agent phone (BYE on camp-on)", agent())
	mustRun(t, "busy target (two INVITEs: the consultation, the first camp-on ring)", busy())
	st := n.opState(t)
	if len(st.Supervised) != 1 || st.Supervised[0].Call != id || st.Supervised[0].Type != "O" {
		t.Fatalf("the call is not camped on 2002 in supervision: %+v", st.Supervised)
	}
	target := sippBackground(t, n.sipAddr, "target_uas.xml", ports["2002"], "-key", "ext", "2002")
	n.waitEvents(t, "the camped call transferred", map[string]float64{"call.camped": 1, "call.transferred": 1})
	c := mustRun(t, "caller", caller())
	mustRun(t, "target phone", target())
	mustSee(t, "the caller was not re-INVITEd with the target's SDP", c, "o=target")
	n.waitEvents(t, "the consultation and the call ended", map[string]float64{"call.ended": 2})
}

// A consultation cancelled: 2002 answers the consultation (the
// operator's phone re-INVITEd with its SDP), the operator cancels
// (call.cancel_consult): 2002's phone gets BYE and the operator's phone
// is re-INVITEd with the caller's SDP; the caller is back in
// conversation on line 1; the operator hangs up from the console and
// both the caller and the operator's phone get BYE.
func TestSIPConsultCancelledWithSipp(t *testing.T) {
	n, ports := opNode(t, "sipcc", "2001", "2002")
	agent := sippBackground(t, n.sipAddr, "agent_consult_cancelled.xml", ports["2001"], "-key", "ext", "2001")
	target := sippBackground(t, n.sipAddr, "target_uas.xml", ports["2002"], "-key", "ext", "2002")
	caller := sippBackground(t, n.sipAddr, "caller_hung_up.xml", freePort(t), "-key", "queue", "sales")
	id := n.talking(t, "the agent to answer")
	n.op(t, "consult", `{"agent":"a1","target":"2002","call":"consult-1"}`)
	waitFor(t, waitShort, "the consultation answered on line 2", func() (bool, string) {
		st := n.opState(t)
		return st.Calls[st.Agent.Line2].State == contactcenter.CallTalking, fmt.Sprintf("%+v", st)
	})
	n.sipCalls(t, "consulted", 1)
	n.op(t, "cancel_consult", `{"agent":"a1"}`)
	tg := mustRun(t, "target phone (BYE on cancel)", target())
	mustSee(t, "the target was not offered the operator's phone's SDP", tg, "o=agent")
	if got := n.talking(t, "the caller back in conversation"); got != id {
		t.Fatalf("line 1 carries %q, want %q", got, id)
	}
	n.waitEvents(t, "the consultation ended", map[string]float64{"call.ended": 1})
	// The operator's phone has the caller back before the hang-up.
	n.sipCalls(t, "consult_ended", 1) // the operator's phone has the caller's SDP back
	n.op(t, "hangup", `{"agent":"a1"}`)
	a := mustRun(t, "agent phone (two re-INVITEs, BYE)", agent())
	mustRun(t, "caller (BYE)", caller())
	if strings.Count(a.trace("messages"), "o=target") < 1 || strings.Count(a.trace("messages"), "o=caller") < 1 {
		t.Fatalf("the operator's phone did not get the target's then the caller's SDP:\n%s", a.trace("messages"))
	}
	n.waitEvents(t, "both calls ended", map[string]float64{"call.ended": 2})
}

// A phone's own attended transfer (REFER with Replaces) is refused with
// 501 and changes nothing: the call stays with the agent until the
// caller hangs up; no transfer reaches the engine.
func TestSIPReferReplacesRefusedWithSipp(t *testing.T) {
	n, ports := opNode(t, "siprr", "2001", "2002")
	agent := sippBackground(t, n.sipAddr, "agent_refer_replaces.xml", ports["2001"], "-key", "ext", "2001", "-key", "target", "2002")
	c := mustRun(t, "caller", sipp(t, n.sipAddr, "caller_uac.xml", "u1", "-key", "queue", "sales"))
	a := mustRun(t, "agent phone (REFER refused, BYE)", agent())
	mustSee(t, "the REFER with Replaces was not refused", a, "501 Attended Transfer By Replaces Not Supported")
	mustSee(t, "the caller did not talk to the agent", c, "o=agent")
	n.waitEvents(t, "the call answered and ended, never transferred", map[string]float64{
		"call.answered": 1, "call.ended": 1})
	if v := n.events(t, "call.transfer_started"); v != 0 {
		t.Fatalf("a transfer was committed: %v", v)
	}
}

// A parked call the operator retrieves from supervision in the console
// (call.retrieve{call}) rings the operator's phone again; its answer is
// bridged to the caller (re-INVITE with its SDP): retrieving never
// leaves the caller with nothing ringing.
func TestSIPParkRetrievedFromConsoleWithSipp(t *testing.T) {
	n, ports := opNode(t, "sipprc", "2001")
	n.apply(parkConfig + "\nsettings: {park_return_seconds: 600}\n").ok(t)
	agent := sippBackground(t, n.sipAddr, "agent_uas.xml", ports["2001"], "-key", "ext", "2001", "-m", "2")
	caller := sippBackground(t, n.sipAddr, "caller_parked.xml", freePort(t), "-key", "queue", "sales")
	id := n.talking(t, "the agent to answer")
	n.op(t, "park", `{"agent":"a1"}`)
	n.op(t, "retrieve", fmt.Sprintf(`{"agent":"a1","call":%q}`, id))
	n.sipCalls(t, "reoffered", 1)
	if got := n.talking(t, "the retrieved call on line 1"); got != id {
		t.Fatalf("line 1 carries %q, want %q", got, id)
	}
	c := mustRun(t, "caller", caller())
	mustRun(t, "agent phone (two INVITEs)", agent())
	mustSee(t, "the caller was not re-INVITEd with the operator's SDP", c, "o=agent")
	n.waitEvents(t, "the end of the call", map[string]float64{"call.ended": 1, "call.returned": 0})
}

// An attended chain: the operator consults 2002, which answers, and
// completes as a chain (call.complete{chain}): the operator's phone gets
// BYE, caller and 2002 are re-INVITEd with each other's SDP; when 2002
// hangs up the caller comes back to the operator's personal queue and
// the operator's phone rings and answers (the caller's second re-INVITE).
func TestSIPAttendedChainBackWithSipp(t *testing.T) {
	n, ports := opNode(t, "sipac", "2001", "2002")
	consulting := sippBackground(t, n.sipAddr, "agent_consult.xml", ports["2001"], "-key", "ext", "2001")
	target := sippBackground(t, n.sipAddr, "target_chain_hangs_up.xml", ports["2002"], "-key", "ext", "2002")
	caller := sippBackground(t, n.sipAddr, "caller_chain.xml", freePort(t), "-key", "queue", "sales")
	id := n.talking(t, "the agent to answer")
	n.op(t, "consult", `{"agent":"a1","target":"2002","call":"consult-1"}`)
	n.sipCalls(t, "consulted", 1)
	n.op(t, "complete", `{"agent":"a1","chain":true}`)
	mustRun(t, "agent phone (consultation, BYE on complete)", consulting())
	agent := sippBackground(t, n.sipAddr, "agent_uas.xml", ports["2001"], "-key", "ext", "2001")
	mustRun(t, "chain target (re-INVITE, hangs up)", target())
	n.waitEvents(t, "the chain back and the operator answering", map[string]float64{
		"call.returned": 1, "call.answered": 2})
	if got := n.talking(t, "the chained call back on line 1"); got != id {
		t.Fatalf("line 1 carries %q, want %q", got, id)
	}
	c := mustRun(t, "caller (two re-INVITEs)", caller())
	mustRun(t, "agent phone (the returned call)", agent())
	mustSee(t, "the caller was not re-INVITEd with the target's SDP", c, "o=target")
	mustSee(t, "the caller was not re-INVITEd with the operator's SDP", c, "o=agent")
	n.waitEvents(t, "the consultation and the call ended", map[string]float64{"call.ended": 2})
}

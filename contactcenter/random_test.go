package contactcenter

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

const randomDoc = `
settings: {ring_timeout_seconds: 10, auto_return_seconds: 30, park_return_seconds: 40, outside_line_prefix: "9", default_country_code: "44", default_area_code: "161"}
pause_reasons: [{code: lunch}]
extensions:
  - {number: "2001", phones: [{id: d, position: 0, order: 1}]}
  - {number: "2002", phones: [{id: d, position: 0, order: 1}]}
  - {number: "2003", phones: [{id: d, position: 0, order: 1}]}
  - {number: "2004", phones: [{id: d, position: 0, order: 1}]}
  - {number: "2005", phones: [{id: d, position: 0, order: 1}]}
  - {number: "2006", phones: [{id: d, position: 0, order: 1}]}
  - {number: "3001", phones: [{id: d, position: 0, order: 1}, {id: m, kind: mobile, position: 1, order: 2}]}
  - {number: "3002", phones: [{id: d, position: 0, order: 1}]}
users:
  - {id: bob, extension: "3001", mobile: "07700 900001"}
  - {id: eve, extension: "3002", monitored_mailboxes: ["3001"]}
  - {id: u1, extension: "2001"}
  - {id: u2, extension: "2002"}
contacts:
  - {id: k1, first_name: Ann, phone: "0161 55 00001"}
  - {id: k2, first_name: Ben, phone: "+44 161 5500001", mobile: "9 0161 55 00002"}
  - {id: k3, first_name: Cy, phone: "55 00003"}
excluded_numbers: ["0161 55 00003", "0800 000 000"]
queues:
  - {id: li, strategy: longest-idle, service_level_seconds: 5}
  - {id: rr, strategy: round-robin}
  - {id: ra, strategy: ring-all, ring_timeout_seconds: 5}
  - {id: fc, strategy: fewest-calls}
  - {id: sk, strategy: skills, skills: {english: 2}}
agents:
  - {id: a1, user: u1, extension: "2001", queues: [li, rr, sk], skills: {english: 5}}
  - {id: a2, user: u2, extension: "2002", queues: [li, ra], skills: {english: 2, french: 3}, wrap_up_seconds: 3}
  - {id: a3, extension: "2003", queues: [rr, ra, fc], max_no_answer: 2}
  - {id: a4, extension: "2004", queues: [fc, sk], skills: {english: 9}, wrap_up_seconds: 1, max_no_answer: 3}
  - {id: a5, extension: "2005", queues: [li, rr, ra, fc, sk], skills: {french: 1}}
  - {id: a6, extension: "2006", queues: [ra]}
`

// randomCommand builds one command from the engine's current state so
// most commands are meaningful; some are deliberately invalid.
type randomGen struct {
	r       *rand.Rand
	next    int
	calls   []string // ids recently created
	live    []string // calls live in the engine before this step
	ring    []string // agents with an offer ringing
	lines   []string // agents with a call on a line
	consult []string // agents with a consultation on line 2
	out     []string // calls with an outgoing leg waiting for an answer
	parked  []string // parked calls
	vm      []string // voicemail messages deposited recently
	nextVM  int
}

func (g *randomGen) callFrom(pref []string) string {
	if len(pref) > 0 && g.r.IntN(3) > 0 {
		return pref[g.r.IntN(len(pref))]
	}
	return g.callID()
}

// agent picks an agent, preferring those the command applies to.
func (g *randomGen) agentFrom(pref []string) string {
	if len(pref) > 0 && g.r.IntN(5) > 0 {
		return pref[g.r.IntN(len(pref))]
	}
	return g.pick(rAgents)
}

var (
	rAgents  = []string{"a1", "a2", "a3", "a4", "a5", "a6", "ghost"}
	rQueues  = []string{"li", "rr", "ra", "fc", "sk", "nope"}
	rTargets = []string{"3001", "3002", "2001", "2005", "9999"}
)

func (g *randomGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *randomGen) callID() string {
	switch {
	case g.r.IntN(20) == 0:
		return "c-none"
	case len(g.live) > 0 && g.r.IntN(4) > 0:
		return g.live[g.r.IntN(len(g.live))]
	case len(g.calls) > 0:
		return g.calls[g.r.IntN(len(g.calls))]
	}
	return "c-none"
}

func (g *randomGen) newID() string {
	g.next++
	id := fmt.Sprintf("c%d", g.next)
	g.calls = append(g.calls, id)
	if len(g.calls) > 64 {
		g.calls = g.calls[len(g.calls)-64:]
	}
	return id
}

var (
	rMailboxes = []string{"3001", "3002", "2001", "9999"}
	rUsers     = []string{"bob", "eve", "u1", "u2", "", "ghost"}
	rCallers   = []string{"01615500001", "5500002", "+441615500003", "3001", "2005", "07700 900001", "anonymous", "+33 1 23 45 67 89"}
	rForwards  = []Forwarding{
		{},
		{Unconditional: ForwardRule{Number: "3002"}},
		{NotConnected: ForwardRule{Voicemail: true}},
		{NotConnected: ForwardRule{Number: "+44 161 5550000"}},
		{Busy: ForwardRule{Voicemail: true}, NoAnswer: ForwardRule{Number: "3001"}},
		{Calendar: []CalendarForward{{ID: "am", Weekdays: []int{1, 2, 3, 4, 5}, From: "09:00", To: "09:30", ForwardRule: ForwardRule{Voicemail: true}}}},
	}
)

// extraCommand builds the commands of the CTI, excluded-number,
// voicemail and forwarding features.
func (g *randomGen) extraCommand() (string, any) {
	// vm picks a recent message and, mostly, its own mailbox.
	vm := func() (string, string) {
		if len(g.vm) > 0 && g.r.IntN(4) > 0 {
			box, id, _ := strings.Cut(g.vm[g.r.IntN(len(g.vm))], "/")
			if g.r.IntN(5) == 0 {
				box = g.pick(rMailboxes)
			}
			return box, id
		}
		return g.pick(rMailboxes), "v-none"
	}
	user := func() string {
		if g.r.IntN(2) == 0 {
			return ""
		}
		return g.pick(rUsers)
	}
	switch n := g.r.IntN(10); {
	case n < 3:
		g.nextVM++
		box, id := g.pick(rMailboxes), fmt.Sprintf("v%d", g.nextVM)
		if g.r.IntN(10) == 0 {
			box, id = vm() // a duplicate
		}
		g.vm = append(g.vm, box+"/"+id)
		if len(g.vm) > 32 {
			g.vm = g.vm[len(g.vm)-32:]
		}
		return TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: box, Message: id, From: g.pick(rCallers), DurationSeconds: g.r.IntN(120)}
	case n < 5:
		box, id := vm()
		return TypeVoicemailMark, VoicemailMarkRequest{Mailbox: box, Message: id, Folder: g.pick([]string{FolderOld, FolderOld, FolderInbox, "x"}), User: user()}
	case n < 6:
		box, id := vm()
		return TypeVoicemailDelete, VoicemailDeleteRequest{Mailbox: box, Message: id, User: user()}
	case n < 8:
		return TypeUserForwarding, ForwardingRequest{User: g.pick([]string{"u1", "u2", "u1", "u2", "bob"}), Forwarding: rForwards[g.r.IntN(len(rForwards))]}
	default:
		// Configuration: excluded numbers added, or the country code
		// changed (the stored list renormalises).
		cc := g.pick([]string{"44", "33", ""})
		area := "161"
		if cc == "" {
			area = ""
		}
		doc := Document{ExcludedNumbers: []string{fmt.Sprintf("0161 55 %05d", g.r.IntN(10))}}
		if g.r.IntN(2) == 0 {
			doc = Document{Settings: &Settings{RingTimeoutSeconds: 10, AutoReturnSeconds: 30, ParkReturnSeconds: 40, OutsideLinePrefix: "9", DefaultCountryCode: cc, DefaultAreaCode: area}}
		}
		return TypeConfigApply, ApplyRequest{Document: doc}
	}
}

func (g *randomGen) command() (string, any) {
	if g.r.IntN(100) < 8 {
		return g.extraCommand()
	}
	a := g.pick(rAgents)
	switch n := g.r.IntN(100); {
	case n < 9:
		req := IncomingRequest{Call: g.newID(), Number: fmt.Sprintf("+4416155%05d", g.r.IntN(100000)), Priority: g.r.IntN(3)}
		if g.r.IntN(4) == 0 {
			req.Number = g.pick(rCallers)
		}
		switch g.r.IntN(10) {
		case 0, 9:
			req.Agent = a
		case 1:
			req.Extension = g.pick(rTargets)
		default:
			req.Queue = g.pick(rQueues)
		}
		if g.r.IntN(5) == 0 {
			req.Skills = map[string]int{g.pick([]string{"english", "french"}): 1 + g.r.IntN(4)}
		}
		return TypeCallIncoming, req
	case n < 24:
		return TypeCallAnswer, AgentCallRequest{Agent: g.agentFrom(g.ring)}
	case n < 26:
		return TypeCallReject, AgentCallRequest{Agent: g.agentFrom(g.ring)}
	case n < 34:
		return TypeCallHangup, HangupRequest{Agent: g.agentFrom(g.lines), Line: g.r.IntN(3)}
	case n < 40:
		return TypeAgentLogin, AgentRequest{Agent: a}
	case n < 43:
		return TypeAgentLogout, AgentRequest{Agent: a}
	case n < 44:
		return TypeAgentPause, PauseRequest{Agent: a, Reason: "lunch"}
	case n < 45:
		return TypeAgentClose, CloseRequest{Agent: a, Confirm: g.r.IntN(2) == 0}
	case n < 45+2:
		return TypeCallDial, DialRequest{Agent: a, Call: g.newID(), Number: g.pick([]string{"3001", "+44 161 5550000", "*553001", "*553002"})}
	case n < 50:
		return TypeCallHold, AgentCallRequest{Agent: g.agentFrom(g.lines)}
	case n < 53:
		return TypeCallRetrieve, RetrieveRequest{Agent: a, Call: g.pick([]string{"", g.callFrom(g.parked)})}
	case n < 57:
		return TypeCallTransfer, TransferRequest{Agent: g.agentFrom(g.lines), Target: g.pick(rTargets), Chain: g.r.IntN(3) == 0}
	case n < 60:
		return TypeCallConsult, ConsultRequest{Agent: g.agentFrom(g.lines), Call: g.newID(), Target: g.pick(rTargets)}
	case n < 62:
		return TypeCallComplete, CompleteRequest{Agent: g.agentFrom(g.consult), Chain: g.r.IntN(3) == 0}
	case n < 63:
		return TypeCallCancelConsult, AgentCallRequest{Agent: g.agentFrom(g.consult)}
	case n < 64:
		return TypeCallCampOn, AgentCallRequest{Agent: g.agentFrom(g.consult)}
	case n < 66:
		return TypeCallPark, ParkRequest{Agent: g.agentFrom(g.lines), Note: "n"}
	case n < 67:
		return TypeCallParkOn, ParkOnRequest{Agent: g.agentFrom(g.lines), Extension: g.pick(rTargets[:3])}
	case n < 68:
		return TypeCallParkPickup, ParkPickupRequest{Extension: g.pick(rTargets[:2]), By: "2006"}
	case n < 69:
		return TypeCallCouple, CoupleRequest{Agent: g.agentFrom(g.lines), Call: g.callFrom(g.parked)}
	case n < 70:
		return TypeCallNote, NoteRequest{Agent: a, Call: g.callID(), Note: "x"}
	case n < 76:
		return TypeCallRemoteAnswer, CallRequest{Call: g.callFrom(g.out)}
	case n < 79:
		return TypeCallRemoteBusy, CallRequest{Call: g.callFrom(g.out)}
	case n < 87:
		return TypeCallRemoteHangup, RemoteHangupRequest{Call: g.callID(), Side: g.pick([]string{"", "remote", "target"})}
	case n < 88:
		return TypeAgentWrapUpEnd, AgentRequest{Agent: a}
	case n < 89:
		return TypeAgentReportProblem, ReportProblemRequest{Agent: a, Report: fmt.Sprintf("r%d", g.r.IntN(1000)), Call: g.callID(), Description: "d", Reset: true, Confirm: true}
	default:
		return TypeClockTick, nil
	}
}

// callTracker checks, from results and events alone, that no call is
// lost: the calls in the state are exactly those created and not ended.
type callTracker struct {
	live map[string]bool
}

func (ct *callTracker) observe(t *testing.T, env command.Envelope, err error, events []command.Event) {
	t.Helper()
	if err == nil {
		switch env.Type {
		case TypeCallIncoming, TypeCallDial, TypeCallConsult:
			var p struct{ Call, Number string }
			_ = json.Unmarshal(env.Payload, &p)
			if env.Type == TypeCallDial && len(p.Number) > 3 && p.Number[:3] == "*55" {
				break
			}
			if ct.live[p.Call] {
				t.Fatalf("%s created live call %s again", env.Type, p.Call)
			}
			ct.live[p.Call] = true
		}
	}
	for _, ev := range events {
		if ev.Type != EvCallEnded {
			continue
		}
		var e CallEndedEvent
		_ = json.Unmarshal(ev.Data, &e)
		if !ct.live[e.Call] {
			t.Fatalf("call.ended for %s, which is not live", e.Call)
		}
		delete(ct.live, e.Call)
	}
}

func (ct *callTracker) compare(t *testing.T, e *Engine, step int) {
	t.Helper()
	var got []string
	e.View(func(s *State) { got = s.liveCalls() })
	want := make([]string, 0, len(ct.live))
	for id := range ct.live {
		want = append(want, id)
	}
	sort.Strings(want)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("step %d: calls in the engine %v, created and not ended %v", step, got, want)
	}
}

// TestRandomSequences applies long random command sequences (fixed seeds)
// to two engines, checking after every step the invariants, that a
// refusal changes nothing, that no call is lost, and that both engines
// emit the same events; halfway a third engine restores a snapshot and
// follows. All three end with the same hash.
func TestRandomSequences(t *testing.T) {
	steps := 6000
	if testing.Short() {
		steps = 1500
	}
	seeds := uint64(4)
	if n, err := strconv.ParseUint(os.Getenv("TANDEM_RANDOM_SEEDS"), 10, 32); err == nil && n > 0 {
		seeds = n // a longer hunt: TANDEM_RANDOM_SEEDS=200 go test -run TestRandomSequences
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runRandom(t, seed, steps)
		})
	}
}

func runRandom(t *testing.T, seed uint64, steps int) { runRandomCount(t, seed, steps, nil) }

func runRandomCount(t *testing.T, seed uint64, steps int, counts map[string]int) {
	h := newHarness(t, randomDoc)
	twin := New()
	var restored *Engine
	for _, env := range h.log {
		if _, err := twin.Apply(env, command.NewEmitter(0, env)); err != nil {
			t.Fatal(err)
		}
	}
	g := &randomGen{r: rand.New(rand.NewPCG(seed, 42))}
	ct := &callTracker{live: map[string]bool{}}
	accepted := 0
	for i := 0; i < steps; i++ {
		h.advance(time.Duration(g.r.IntN(2500)) * time.Millisecond)
		h.e.View(func(s *State) {
			g.live = s.liveCalls()
			g.ring, g.lines, g.consult = g.ring[:0], g.lines[:0], g.consult[:0]
			for _, id := range sortedKeys(s.Agents) {
				if a := s.Agents[id]; a.Offer != "" {
					g.ring = append(g.ring, id)
				} else if a.Line1 != "" {
					g.lines = append(g.lines, id)
					if a.Line2 != "" {
						g.consult = append(g.consult, id)
					}
				}
			}
			g.out, g.parked = g.out[:0], g.parked[:0]
			for _, id := range g.live {
				c := s.Calls[id]
				switch {
				case c.State == CallDialing, c.State == CallRinging, c.Kind == KindCampOn:
					g.out = append(g.out, id)
				case c.State == CallParked:
					g.parked = append(g.parked, id)
				}
			}
		})
		typ, payload := g.command()
		env := h.env(typ, payload)
		_, err := h.applyEnv(env)
		if err == nil {
			accepted++
			if counts != nil {
				counts[typ]++
				for _, ev := range h.events {
					counts["  ev "+ev.Type]++
				}
			}
		}
		ct.observe(t, env, err, h.events)
		ct.compare(t, h.e, i)
		checkActiveCalls(t, h.e, g.pick(rAgents[:6]), i)

		em := command.NewEmitter(h.index, env)
		_, err2 := twin.Apply(env, em)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("step %d %s: engines disagree: %v / %v", i, typ, err, err2)
		}
		if !reflect.DeepEqual(em.Events(), h.events) && !(len(em.Events()) == 0 && len(h.events) == 0) {
			t.Fatalf("step %d %s: events differ", i, typ)
		}
		if restored != nil {
			if _, err3 := restored.Apply(env, command.NewEmitter(h.index, env)); (err == nil) != (err3 == nil) {
				t.Fatalf("step %d %s: restored engine disagrees: %v / %v", i, typ, err, err3)
			}
		}
		if i == steps/2 {
			snap, err := h.e.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			restored = New()
			if err := restored.Restore(snap); err != nil {
				t.Fatal(err)
			}
			if restored.Hash() != h.e.Hash() {
				t.Fatal("restored engine differs")
			}
		}
	}
	if h.e.Hash() != twin.Hash() || h.e.Hash() != restored.Hash() {
		t.Fatalf("hashes differ after %d steps", steps)
	}
	var calls, answered int
	places := map[string]int{}
	h.e.View(func(s *State) {
		calls = len(s.Calls)
		for _, q := range s.Queues {
			answered += int(q.Stats.Answered)
		}
		for _, c := range s.Calls {
			places[c.Place+c.Kind]++
		}
	})
	t.Logf("seed %d: %d steps, %d accepted, %d calls live %v, %d answered from queues", seed, steps, accepted, calls, places, answered)
	if accepted < steps/4 || answered == 0 {
		t.Fatalf("the random sequence exercised too little: %d accepted, %d answered", accepted, answered)
	}
}

// checkActiveCalls: an agent's CTI active-call list shows exactly its
// offer, its lines and its supervised calls not with anybody yet.
func checkActiveCalls(t *testing.T, e *Engine, agent string, step int) {
	t.Helper()
	list, ok := e.ActiveCalls(agent)
	if !ok {
		t.Fatalf("step %d: no active-call list for %s", step, agent)
	}
	var want []string
	e.View(func(s *State) {
		a := s.Agents[agent]
		for _, id := range []string{a.Offer, a.Line1, a.Line2} {
			if id != "" {
				want = append(want, id)
			}
		}
		for _, id := range s.liveCalls() {
			if c := s.Calls[id]; c.Place == PlaceSupervised && c.Agent == agent && !(c.Kind == KindChain && c.State == CallTalking) {
				want = append(want, id)
			}
		}
	})
	got := make([]string, 0, len(list))
	for _, c := range list {
		got = append(got, c.Call)
	}
	sort.Strings(got)
	sort.Strings(want)
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		t.Fatalf("step %d: %s's active calls %v, want %v", step, agent, got, want)
	}
}

// The random sequence reaches the CTI, excluded-number, voicemail and
// logged-out personal-queue features (not only their refusals).
func TestRandomCoversFeatures(t *testing.T) {
	counts := map[string]int{}
	for seed := uint64(1); seed <= 3; seed++ {
		runRandomCount(t, seed, 3000, counts)
	}
	for _, k := range []string{
		TypeVoicemailDeposited, TypeVoicemailMark, TypeVoicemailDelete, TypeUserForwarding,
		"  ev " + EvVoicemailMarked, "  ev " + EvVoicemailDeleted, "  ev " + EvCallIdentified,
		"  ev " + EvCallForwarded, "  ev " + EvCallUnattended, "  ev config.excluded_number.created",
		"  ev config.excluded_number.removed",
	} {
		if counts[k] == 0 {
			t.Errorf("never reached: %q", k)
		}
	}
	t.Logf("%v", counts)
}

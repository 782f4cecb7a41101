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

// randomDoc is the random test's contact center. Some choices serve the
// coverage floor: timers short against the ~1.25 s a step advances the
// clock (auto-return 15 s, park 20 s), so supervised calls often return
// before a command takes them; wrap-up on a1, a2, a4, during which their
// personal-queue calls wait and may be retrieved; max_no_answer on most
// agents (automatic pause); a1 and a2 with users, whose forwarding takes
// their calls once they log out, the others without (unattended); a
// secure phone 3002/s (secrets, their expiry); a spare extension 3009
// whose mailbox the generator floods and then removes.
const randomDoc = `
chat: {languages: [en, es], queue: li}
settings: {ring_timeout_seconds: 10, auto_return_seconds: 15, park_return_seconds: 20, outside_line_prefix: "9", default_country_code: "44", default_area_code: "161", phone_secrets: {grace_seconds: 30}}
pause_reasons: [{code: lunch}]
extensions:
  - {number: "2001", phones: [{id: d, position: 0, order: 1}]}
  - {number: "2002", phones: [{id: d, position: 0, order: 1}]}
  - {number: "2003", phones: [{id: d, position: 0, order: 1}]}
  - {number: "2004", phones: [{id: d, position: 0, order: 1}]}
  - {number: "2005", phones: [{id: d, position: 0, order: 1}]}
  - {number: "2006", phones: [{id: d, position: 0, order: 1}]}
  - {number: "3001", phones: [{id: d, position: 0, order: 1}, {id: m, kind: mobile, position: 1, order: 2}]}
  - {number: "3002", phones: [{id: d, position: 0, order: 1}, {id: s, position: 1, order: 1, secure: true}]}
  - {number: "3009", phones: [{id: d, position: 0, order: 1}]}
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
  - {id: ra, strategy: ring-all, ring_timeout_seconds: 12}
  - {id: fc, strategy: fewest-calls}
  - {id: sk, strategy: skills, skills: {english: 2}}
agents:
  - {id: a1, user: u1, extension: "2001", queues: [li, rr, sk, ra], skills: {english: 5}, wrap_up_seconds: 5}
  - {id: a2, user: u2, extension: "2002", queues: [li, ra], skills: {english: 2, french: 3}, wrap_up_seconds: 8, max_no_answer: 3}
  - {id: a3, extension: "2003", queues: [rr, ra, fc], max_no_answer: 2}
  - {id: a4, extension: "2004", queues: [fc, sk], skills: {english: 9}, wrap_up_seconds: 4, max_no_answer: 2}
  - {id: a5, extension: "2005", queues: [li, rr, ra, fc, sk], skills: {french: 1}, max_no_answer: 3}
  - {id: a6, extension: "2006", queues: [ra], max_no_answer: 2}
mail:
  imap: {host: imap.example.org, user: desk, password: imap-pass}
  smtp: {host: smtp.example.org, messages_per_minute: 3}
  aliases: [{address: support@example.org, queue: rr}, {address: sales@example.org, queue: ra}]
`

// randomGen builds one command at a time from what it sees of the engine
// before each step (randomView), so most commands are meaningful and
// reach the feature they exercise; some are deliberately invalid. It is
// steered — the weights of randomCommands, followUp, the waves of load
// (quiet), the mailbox flood — so that a run of TestRandomSequences
// reaches every command type and notable outcome at least
// randomCoverageFloor times (random_coverage_test.go).
type randomGen struct {
	r     *rand.Rand
	now   time.Time
	step  int // index of the step being built
	steps int // length of the run
	next  int
	calls []string // ids recently created
	randomView

	vm     []string // voicemail messages deposited recently
	nextVM int
	// nextUID is the mailbox's next UID (mail.received); the e-mail
	// contacts recorded and the outbox's queued and sending replies.
	nextUID                         uint32
	mailMsgs, outQueued, outSending []string
	mailLast                        uint32 // the engine's watermark
	nextReply                       int
	nextTranscript                  int      // chat transcripts' outbox ids (t<n>), apart from the replies' cycle
	cbs                             []string // web callbacks created recently
	nextCB                          int
	chats                           []string // web chat sessions created recently
	nextCh                          int
	// spareGone: the generator removed the spare extension 3009 (and its
	// mailbox) with a pruning config.apply and has not put it back.
	spareGone bool
	// full and noSpare are randomDoc with and without extension 3009.
	full, noSpare Document
}

// randomView is what the generator sees of the engine before a step: ids
// in order, of agents by what they do and of calls by where they are.
type randomView struct {
	live []string // every live call

	ring     []string // agents with an offer ringing
	multi    []string // of those: a ring-all offer ringing on others too
	single   []string // of those: a general-queue offer ringing on it alone
	idle     []string // agents with no offer and no call on a line
	lines    []string // agents with a call on line 1
	talking  []string // talking on line 1, no consultation
	held     []string // with a call held alone on line 1
	consult  []string // with a consultation on line 2
	busy2    []string // whose consultation is busy (camp-on)
	talk2    []string // whose consultation answered (complete)
	wrap     []string // agents in wrap-up
	loggedIn []string // agents not Disconnected
	owning   []string // logged in, with personal or supervised calls
	uOwners  []string // logged out, with unattended calls
	// queuedBack: logged in, with personal-queue calls that came through
	// a general queue (a log-out sends them back there).
	queuedBack []string
	recent     map[string]string // agent -> a call in its recent history
	openCBs    []string          // open web callbacks
	openChats  []string          // open web chat sessions
	chatLines  []string          // "agent/session": a chat on an agent's line
	chatFresh  []string          // sessions an agent took whose transcript was never sent

	out        []string // calls with an outgoing leg waiting for an answer
	legs       []string // of those: consultations on line 2
	transfers  []string // of those: blind transfers and chains ringing
	ownerBusy  []string // of those: transfers whose operator is busy
	campons    []string // of those: camp-ons
	parked     []string // calls parked (P, D)
	supervised []string // calls in supervision, retrievable, but U
	unattended []string // U calls
	chains     []string // chains talking with their target
	away       []string // calls at an extension or coupled: no operator any more
	waiting    []string // calls waiting in a general queue
	personal   []string // "agent/call" in the personal queue of an agent with free lines
	directed   []string // extensions a call is directed-parked on
}

func newRandomGen(t testing.TB, seed uint64, steps int) *randomGen {
	g := &randomGen{r: rand.New(rand.NewPCG(seed, 42)), steps: steps}
	var err error
	if g.full, err = ParseDocument([]byte(randomDoc)); err != nil {
		t.Fatal(err)
	}
	g.noSpare = g.full
	g.noSpare.Extensions = nil
	for _, x := range g.full.Extensions {
		if x.Number != "3009" {
			g.noSpare.Extensions = append(g.noSpare.Extensions, x)
		}
	}
	return g
}

// see records what the next command is built from.
func (g *randomGen) see(s *State, now time.Time, step int) {
	g.now, g.step = now, step
	g.randomView = randomView{live: s.liveCalls(), recent: map[string]string{}}
	g.mailMsgs, g.outQueued, g.outSending, g.mailLast = nil, nil, nil, 0
	if ms := s.Mail; ms != nil {
		g.mailLast = ms.LastUID
		g.mailMsgs = sortedKeys(ms.Messages)
		for _, id := range sortedKeys(ms.Outbox) {
			switch ms.Outbox[id].State {
			case OutboxQueued:
				g.outQueued = append(g.outQueued, id)
			case OutboxSending:
				g.outSending = append(g.outSending, id)
			}
		}
	}
	for _, id := range sortedKeys(s.Callbacks) {
		if s.Callbacks[id].open() {
			g.openCBs = append(g.openCBs, id)
		}
	}
	for _, id := range sortedKeys(s.Chats) {
		if ch := s.Chats[id]; ch.Status != ChatEnded {
			g.openChats = append(g.openChats, id)
			if c := s.Calls[ch.Call]; c != nil && c.Place == PlaceLine {
				g.chatLines = append(g.chatLines, c.Agent+"/"+id)
			}
		}
		if ch := s.Chats[id]; ch.Agent != "" && ch.Transcript == "" {
			g.chatFresh = append(g.chatFresh, id)
		}
	}
	owners, unattended, back := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, id := range g.live {
		c := s.Calls[id]
		g.seeCall(c)
		if c.Place == PlaceSupervised && c.State == CallRinging {
			if a := s.Agents[c.Agent]; a.Line1 != "" || a.Offer != "" {
				g.ownerBusy = append(g.ownerBusy, id)
			}
		}
		switch {
		case c.Kind == KindUnattended:
			unattended[c.Agent] = true
		case c.Place == PlacePersonal && c.Queue != "":
			back[c.Agent] = true
		}
		if c.Place == PlaceSupervised || c.Place == PlacePersonal {
			owners[c.Agent] = true
		}
	}
	for _, id := range sortedKeys(s.Agents) {
		a := s.Agents[id]
		g.seeAgent(s, a)
		in := a.State != StateDisconnected
		if owners[id] && in {
			g.owning = append(g.owning, id)
		}
		if unattended[id] {
			g.uOwners = append(g.uOwners, id)
		}
		if back[id] && in {
			g.queuedBack = append(g.queuedBack, id)
		}
		if n := len(a.History); n > 0 {
			g.recent[id] = a.History[n-1].Call
		}
	}
}

func (g *randomGen) seeCall(c *Call) {
	id := c.ID
	switch {
	case c.Place == PlaceSupervised && c.Kind == KindChain && c.State == CallTalking:
		g.chains = append(g.chains, id)
	case c.State == CallDialing, c.State == CallRinging, c.Kind == KindCampOn:
		g.out = append(g.out, id)
		switch {
		case c.Line == 2:
			g.legs = append(g.legs, id)
		case c.Kind == KindCampOn:
			g.campons = append(g.campons, id)
		case c.Place == PlaceSupervised:
			g.transfers = append(g.transfers, id)
		}
	case c.Place == PlaceExtension || c.Place == PlaceBridged:
		g.away = append(g.away, id)
	case c.Place == PlaceQueue:
		g.waiting = append(g.waiting, id)
	case c.State == CallParked:
		g.parked = append(g.parked, id)
		if c.Kind == KindDirectedPark {
			g.directed = append(g.directed, c.Target)
		}
	}
	switch {
	case c.Kind == KindUnattended:
		g.unattended = append(g.unattended, id)
	case c.Place == PlaceSupervised && !(c.Kind == KindChain && c.State == CallTalking):
		g.supervised = append(g.supervised, id)
	}
}

func (g *randomGen) seeAgent(s *State, a *AgentState) {
	id := a.ID
	if a.State != StateDisconnected {
		g.loggedIn = append(g.loggedIn, id)
	}
	if a.WrapUntil > 0 {
		g.wrap = append(g.wrap, id)
	}
	if a.Line1 == "" {
		for _, c := range a.Personal {
			g.personal = append(g.personal, id+"/"+c)
		}
	}
	if a.Offer != "" {
		g.ring = append(g.ring, id)
		switch c := s.Calls[a.Offer]; {
		case len(c.Offered) > 1:
			g.multi = append(g.multi, id)
		case c.Origin == OriginQueue:
			g.single = append(g.single, id)
		}
		return
	}
	if a.Line1 == "" {
		g.idle = append(g.idle, id)
		return
	}
	g.lines = append(g.lines, id)
	if a.Line2 != "" {
		g.consult = append(g.consult, id)
		switch s.Calls[a.Line2].State {
		case CallBusy:
			g.busy2 = append(g.busy2, id)
		case CallTalking:
			g.talk2 = append(g.talk2, id)
		}
		return
	}
	switch s.Calls[a.Line1].State {
	case CallTalking:
		g.talking = append(g.talking, id)
	case CallHeld:
		g.held = append(g.held, id)
	}
}

func (g *randomGen) callFrom(pref []string) string {
	if len(pref) > 0 && g.r.IntN(3) > 0 {
		return pref[g.r.IntN(len(pref))]
	}
	return g.callID()
}

// agentFrom picks an agent, preferring those the command applies to.
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
	rMailboxes = []string{"3001", "3002", "2001", "3009", "9999"}
	rUsers     = []string{"bob", "eve", "u1", "u2", "", "ghost"}
	rCallers   = []string{"01615500001", "5500002", "+441615500003", "3001", "2005", "07700 900001", "anonymous", "+33 1 23 45 67 89"}
	rForwards  = []Forwarding{
		{},
		{Unconditional: ForwardRule{Number: "3002"}},
		{NotConnected: ForwardRule{Voicemail: true}},
		{NotConnected: ForwardRule{Number: "+44 161 5550000"}},
		{Busy: ForwardRule{Voicemail: true}, NoAnswer: ForwardRule{Number: "3001"}},
		{Calendar: []CalendarForward{{ID: "am", Weekdays: []int{1, 2, 3, 4, 5}, From: "09:00", To: "09:30", ForwardRule: ForwardRule{Voicemail: true}}}},
		{Unconditional: ForwardRule{Voicemail: true}},
	}
	// rPhones are extension/phone pairs; 3002/s is secure, 2002/x unknown.
	rPhones = [][2]string{{"2001", "d"}, {"3001", "d"}, {"3001", "m"}, {"3002", "d"}, {"3002", "s"}, {"3002", "s"}, {"2002", "x"}}
)

// Mailbox flood: for floodSteps steps from a fifth of the run, half the
// commands deposit into the spare mailbox 3009, so it passes
// MaxVoicemailMessages (voicemail.deleted reason limit); only afterwards
// may the spare extension be removed (reason mailbox_removed).
const floodSteps = 500

func (g *randomGen) flooding() bool {
	from := g.steps / 5
	return g.step >= from && g.step < from+floodSteps
}

// randomCommands are the generator's command builders with their relative
// weights (about 1,200 in all), used on the steps no follow-up takes.
// Commands needing a particular state (a busy consultation, a chain
// talking, a directed park) mostly take their agent or call from what
// see found, so that they are reached often enough; the rest pick freely
// and are often refused.
var randomCommands = []struct {
	weight int
	build  func(g *randomGen) (string, any)
}{
	{95, (*randomGen).incoming},
	{130, func(g *randomGen) (string, any) {
		return TypeCallAnswer, AgentCallRequest{Agent: g.agentFrom(g.ring)}
	}},
	{20, func(g *randomGen) (string, any) { return TypeCallReject, AgentCallRequest{Agent: g.agentFrom(g.ring)} }},
	{45, func(g *randomGen) (string, any) {
		return TypeCallHangup, HangupRequest{Agent: g.agentFrom(g.lines), Line: g.r.IntN(3)}
	}},
	{55, func(g *randomGen) (string, any) { return TypeAgentLogin, AgentRequest{Agent: g.pick(rAgents)} }},
	{30, func(g *randomGen) (string, any) {
		// Mostly operators leaving calls behind (personal-queue rule),
		// a1 and a2 (users whose forwarding may take them), or with a call
		// ringing (withdrawn).
		switch g.r.IntN(4) {
		case 0:
			if len(g.chatLines) > 0 { // a chat goes back to its queue
				agent, _, _ := strings.Cut(g.pick(g.chatLines), "/")
				if g.r.IntN(2) == 0 {
					return TypeAgentClose, CloseRequest{Agent: agent, Confirm: true}
				}
				return TypeAgentLogout, AgentRequest{Agent: agent}
			}
			return TypeAgentLogout, AgentRequest{Agent: g.agentFrom(g.owning)}
		case 1:
			return TypeAgentLogout, AgentRequest{Agent: g.pick([]string{"a1", "a2"})}
		case 2:
			return TypeAgentLogout, AgentRequest{Agent: g.agentFrom(g.ring)}
		}
		return TypeAgentLogout, AgentRequest{Agent: g.agentFrom(g.loggedIn)}
	}},
	{10, func(g *randomGen) (string, any) {
		return TypeAgentPause, PauseRequest{Agent: g.pick(rAgents), Reason: g.pick([]string{"lunch", "lunch", "", "nap"})}
	}},
	{10, func(g *randomGen) (string, any) {
		if len(g.chatLines) > 0 && g.r.IntN(2) == 0 {
			// the agent holding a chat closes its console: the chat goes
			// back to its queue (chat.requeued)
			agent, _, _ := strings.Cut(g.pick(g.chatLines), "/")
			return TypeAgentClose, CloseRequest{Agent: agent, Confirm: true}
		}
		return TypeAgentClose, CloseRequest{Agent: g.pick(rAgents), Confirm: g.r.IntN(2) == 0}
	}},
	{15, func(g *randomGen) (string, any) { return TypeAgentWrapUpEnd, AgentRequest{Agent: g.agentFrom(g.wrap)} }},
	{25, (*randomGen).dial},
	{30, func(g *randomGen) (string, any) { return TypeCallHold, AgentCallRequest{Agent: g.agentFrom(g.talking)} }},
	{20, (*randomGen).retrieve},
	{50, func(g *randomGen) (string, any) {
		return TypeCallTransfer, TransferRequest{Agent: g.agentFrom(g.lines), Target: g.pick(rTargets), Chain: g.r.IntN(2) == 0}
	}},
	{75, func(g *randomGen) (string, any) {
		agent := g.agentFrom(append(append([]string(nil), g.talking...), g.held...))
		return TypeCallConsult, ConsultRequest{Agent: agent, Call: g.newID(), Target: g.pick(rTargets)}
	}},
	{25, func(g *randomGen) (string, any) {
		return TypeCallComplete, CompleteRequest{Agent: g.agentFrom(g.talk2), Chain: g.r.IntN(2) == 0}
	}},
	{20, func(g *randomGen) (string, any) {
		return TypeCallCancelConsult, AgentCallRequest{Agent: g.agentFrom(g.consult)}
	}},
	{25, func(g *randomGen) (string, any) { return TypeCallCampOn, AgentCallRequest{Agent: g.agentFrom(g.busy2)} }},
	{20, func(g *randomGen) (string, any) {
		return TypeCallPark, ParkRequest{Agent: g.agentFrom(g.lines), Note: "n"}
	}},
	{35, func(g *randomGen) (string, any) {
		return TypeCallParkOn, ParkOnRequest{Agent: g.agentFrom(g.lines), Extension: g.pick(rTargets[:3])}
	}},
	{15, func(g *randomGen) (string, any) {
		return TypeCallParkPickup, ParkPickupRequest{Extension: g.extFrom(g.directed), By: "2006"}
	}},
	{25, func(g *randomGen) (string, any) {
		return TypeCallCouple, CoupleRequest{Agent: g.agentFrom(g.talking), Call: g.callFrom(g.parked)}
	}},
	{10, func(g *randomGen) (string, any) {
		return TypeCallNote, NoteRequest{Agent: g.pick(rAgents), Call: g.callFrom(g.supervised), Note: "x"}
	}},
	{60, func(g *randomGen) (string, any) {
		return TypeCallRemoteAnswer, CallRequest{Call: g.outgoing(g.campons)}
	}},
	{35, func(g *randomGen) (string, any) {
		return TypeCallRemoteBusy, CallRequest{Call: g.outgoing(g.transfers)}
	}},
	{70, (*randomGen).remoteHangup},
	{20, (*randomGen).reportProblem},
	{100, func(g *randomGen) (string, any) { return TypeClockTick, nil }},
	{110, (*randomGen).extraCommand},
}

// command builds the next command.
func (g *randomGen) command() (string, any) {
	if g.flooding() && g.r.IntN(2) == 0 {
		return g.flood()
	}
	if typ, payload, ok := g.followUp(); ok {
		return typ, payload
	}
	total := 0
	for _, c := range randomCommands {
		total += c.weight
	}
	n := g.r.IntN(total)
	for _, c := range randomCommands {
		if n < c.weight {
			return c.build(g)
		}
		n -= c.weight
	}
	panic("unreachable")
}

// mail is a message of the mailbox: mostly the next UID, some again
// (a retry), some copies of an earlier Message-ID, some auto-replies.
func (g *randomGen) mail() (string, any) {
	switch {
	case len(g.outSending) > 0 && g.r.IntN(2) == 0:
		p := MailSentRequest{Reply: g.pick(g.outSending)}
		switch g.r.IntN(6) {
		case 0:
			p.Error, p.Retry = "451 try later", true
		case 1:
			p.Error = "550 no such user"
		case 2:
			p.Uncertain = true
		}
		return TypeMailSent, p
	case len(g.outQueued) > 0 && g.r.IntN(2) == 0:
		return TypeMailSending, MailSendingRequest{Reply: g.pick(g.outQueued)}
	case len(g.mailMsgs) > 0 && g.r.IntN(2) == 0:
		g.nextReply++
		id := fmt.Sprintf("r%d", g.nextReply)
		switch g.nextReply % 3 { // no random draw: the rest of the sequence is as it was
		case 0:
			return TypeMailForward, MailReplyRequest{Reply: id, Contact: g.pick(g.mailMsgs), Forward: "tech@partner.example", Body: "Please look."}
		case 1:
			return TypeMailReport, MailReportRequest{Reply: id, To: "boss@example.com", OnBehalfOf: g.pick([]string{"", "ceo@example.org"}), Subject: "Daily", Body: "42 calls"}
		}
		return TypeMailReply, MailReplyRequest{Reply: id, Contact: g.pick(g.mailMsgs), Body: "Dear customer,\n\tthanks."}
	}
	g.nextUID++
	p := MailReceivedRequest{UIDValidity: 7, UID: g.nextUID, After: g.mailLast, MessageID: fmt.Sprintf("<m%d@example.com>", g.nextUID),
		From: "cust@example.com", Subject: "help", To: []string{g.pick([]string{"support@example.org", "sales@example.org", "x@example.org"})}}
	switch g.r.IntN(8) {
	case 0:
		p.UID = g.nextUID - uint32(g.r.IntN(3)) // at or below the watermark
	case 1:
		p.MessageID = fmt.Sprintf("<m%d@example.com>", 1+g.r.IntN(int(g.nextUID)))
	case 2, 6:
		p.Skip = g.pick(MailSkipReasons)
	case 3:
		if p.After > 0 && g.r.IntN(3) == 0 {
			p.After-- // a stale proposer: refused
		}
	case 4, 5:
		// A fetch's messages at once, each after the one before.
		b := MailReceivedBatchRequest{Messages: []MailReceivedRequest{p}}
		for n := g.r.IntN(3); n > 0; n-- {
			g.nextUID++
			m := p
			m.After, m.UID, m.MessageID = b.Messages[len(b.Messages)-1].UID, g.nextUID, fmt.Sprintf("<m%d@example.com>", g.nextUID)
			if g.r.IntN(4) == 0 {
				m.Skip = g.pick(MailSkipReasons)
			}
			b.Messages = append(b.Messages, m)
		}
		return TypeMailReceivedBatch, b
	}
	return TypeMailReceived, p
}

// outgoing picks a call whose far side may answer or be busy: often a
// consultation (complete and camp-on need one answered or busy),
// sometimes one of also (camp-ons for an answer, transfers for a busy
// target), else any. Transfers and camp-ons left alone return by timer.
func (g *randomGen) outgoing(also []string) string {
	switch n := g.r.IntN(8); {
	case n < 3 && len(g.legs) > 0:
		return g.pick(g.legs)
	case (n == 3 || n == 4) && len(also) > 0:
		return g.pick(also)
	}
	return g.callFrom(g.out)
}

// followUp carries on, often, what a few states lead to before other
// commands undo them (each in its own share of 128; a state that is
// absent leaves its share to the weighted commands):
//   - an attended transfer: line 2 dialling is answered or busy, then
//     completed (as a chain or not) or camped on, sometimes cancelled;
//   - a personal-queue call its operator retrieves while free (a call
//     ringing on it meanwhile is redirected), or a retrieve while a queue
//     call rings on the operator alone (redirected);
//   - an unattended call another operator takes, or its own reclaims by
//     logging in;
//   - a couple of a parked call; an answer to a ring-all call ringing on
//     several agents; a camp-on answered;
//   - a busy target for a transfer whose operator is on another call
//     (to the personal queue); the log-out of an operator with
//     personal-queue calls from a general queue (back there), or with
//     calls to come back (forwarded or unattended once it is out).
func (g *randomGen) followUp() (string, any, bool) {
	n := g.r.IntN(128)
	has := func(lists ...[]string) bool {
		for _, l := range lists {
			if len(l) == 0 {
				return false
			}
		}
		return true
	}
	switch {
	case n < 12:
		if !has(g.legs) {
			break
		}
		if n < 6 {
			return TypeCallRemoteAnswer, CallRequest{Call: g.pick(g.legs)}, true
		}
		return TypeCallRemoteBusy, CallRequest{Call: g.pick(g.legs)}, true
	case n < 24:
		if !has(g.busy2) {
			break
		}
		if n == 12 {
			return TypeCallCancelConsult, AgentCallRequest{Agent: g.pick(g.busy2)}, true
		}
		return TypeCallCampOn, AgentCallRequest{Agent: g.pick(g.busy2)}, true
	case n < 36:
		if !has(g.talk2) {
			break
		}
		if n < 26 {
			return TypeCallCancelConsult, AgentCallRequest{Agent: g.pick(g.talk2)}, true
		}
		return TypeCallComplete, CompleteRequest{Agent: g.pick(g.talk2), Chain: n < 31}, true
	case n < 38:
		if has(g.personal) {
			agent, call, _ := strings.Cut(g.pick(g.personal), "/")
			return TypeCallRetrieve, RetrieveRequest{Agent: agent, Call: call}, true
		}
	case n < 41:
		if has(g.single, g.supervised) {
			return TypeCallRetrieve, RetrieveRequest{Agent: g.pick(g.single), Call: g.pick(g.supervised)}, true
		}
	case n < 43:
		if has(g.unattended, g.idle) {
			return TypeCallRetrieve, RetrieveRequest{Agent: g.pick(g.idle), Call: g.pick(g.unattended)}, true
		}
	case n < 46:
		if has(g.uOwners) {
			return TypeAgentLogin, AgentRequest{Agent: g.pick(g.uOwners)}, true // reclaims its U calls
		}
	case n < 48:
		if has(g.talking, g.parked) {
			return TypeCallCouple, CoupleRequest{Agent: g.pick(g.talking), Call: g.pick(g.parked)}, true
		}
	case n < 50:
		if has(g.multi) {
			return TypeCallAnswer, AgentCallRequest{Agent: g.pick(g.multi)}, true
		}
	case n < 51:
		if has(g.campons) {
			return TypeCallRemoteAnswer, CallRequest{Call: g.pick(g.campons)}, true
		}
	case n < 54:
		if has(g.ownerBusy) {
			return TypeCallRemoteBusy, CallRequest{Call: g.pick(g.ownerBusy)}, true
		}
	case n < 55:
		if has(g.queuedBack) {
			return TypeAgentLogout, AgentRequest{Agent: g.pick(g.queuedBack)}, true
		}
	case n < 58:
		if has(g.owning) {
			return TypeAgentLogout, AgentRequest{Agent: g.pick(g.owning)}, true
		}
	}
	return "", nil, false
}

func (g *randomGen) extFrom(pref []string) string {
	if len(pref) > 0 && g.r.IntN(4) > 0 {
		return g.pick(pref)
	}
	return g.pick(rTargets[:3])
}

// quiet: load comes in waves. In the last quarter of every 400 steps
// callers waiting in the general queues give up instead of new ones
// arriving, so the queues drain and agents wait idle: only then does a
// new ring-all call ring several agents at once (and get withdrawn from
// the others when one answers).
func (g *randomGen) quiet() bool { return g.step%400 >= 300 }

func (g *randomGen) incoming() (string, any) {
	if g.quiet() && g.r.IntN(4) > 0 {
		if len(g.waiting) > 0 {
			return TypeCallRemoteHangup, RemoteHangupRequest{Call: g.pick(g.waiting)}
		}
		return TypeClockTick, nil
	}
	if g.r.IntN(8) == 0 {
		return g.mail()
	}
	req := IncomingRequest{Call: g.newID(), Number: fmt.Sprintf("+4416155%05d", g.r.IntN(100000)), Priority: g.r.IntN(3)}
	if g.r.IntN(4) == 0 {
		req.Number = g.pick(rCallers)
	}
	switch g.r.IntN(10) {
	case 0, 7, 8, 9:
		// Personal calls, mostly for the operators with users (a1, a2),
		// whose forwarding applies once they log out.
		req.Agent = g.pick([]string{"a1", "a2", "a1", "a2", "a3", "a5", "ghost"})
	case 1:
		req.Extension = g.pick(rTargets)
	default:
		req.Queue = g.pick(rQueues)
		if g.quiet() || g.r.IntN(3) == 0 {
			req.Queue = "ra" // ring-all: offers withdrawn when answered elsewhere
		}
	}
	if g.r.IntN(5) == 0 {
		req.Skills = map[string]int{g.pick([]string{"english", "french"}): 1 + g.r.IntN(4)}
	}
	return TypeCallIncoming, req
}

func (g *randomGen) dial() (string, any) {
	num := g.pick([]string{"3001", "+44 161 5550000", "*553001", "*553002"})
	if len(g.directed) > 0 && g.r.IntN(4) > 0 {
		num = ParkPickupPrefix + g.pick(g.directed)
	}
	return TypeCallDial, DialRequest{Agent: g.agentFrom(g.idle), Call: g.newID(), Number: num}
}

// retrieve: the held call back, a call from supervision (an unattended
// one, or while another call rings on the operator, which is redirected),
// or one from the operator's own personal queue.
func (g *randomGen) retrieve() (string, any) {
	switch n := g.r.IntN(6); {
	case n == 0, n == 5:
		return TypeCallRetrieve, RetrieveRequest{Agent: g.agentFrom(g.held)}
	case n == 1 && len(g.personal) > 0:
		agent, call, _ := strings.Cut(g.pick(g.personal), "/")
		return TypeCallRetrieve, RetrieveRequest{Agent: agent, Call: call}
	case n == 2 && len(g.unattended) > 0:
		return TypeCallRetrieve, RetrieveRequest{Agent: g.agentFrom(g.idle), Call: g.pick(g.unattended)}
	case n == 3:
		return TypeCallRetrieve, RetrieveRequest{Agent: g.agentFrom(g.ring), Call: g.callFrom(g.supervised)}
	}
	return TypeCallRetrieve, RetrieveRequest{Agent: g.agentFrom(g.idle), Call: g.callFrom(g.supervised)}
}

// remoteHangup: the caller hangs up anywhere, or the target of a chain
// (chain return), a transfer or a direct call does. Calls no operator
// deals with any more (at an extension, coupled) and callers waiting in
// a queue hang up more often, so that calls do not pile up (the state,
// hashed after every step, stays small).
func (g *randomGen) remoteHangup() (string, any) {
	side := g.pick([]string{"", "remote", "target"})
	switch n := g.r.IntN(8); {
	case n < 2 && len(g.chains) > 0:
		return TypeCallRemoteHangup, RemoteHangupRequest{Call: g.pick(g.chains), Side: "target"}
	case n >= 2 && n < 5 && len(g.away) > 0:
		return TypeCallRemoteHangup, RemoteHangupRequest{Call: g.pick(g.away), Side: side}
	case n == 5 && len(g.waiting) > 0:
		return TypeCallRemoteHangup, RemoteHangupRequest{Call: g.pick(g.waiting)}
	}
	return TypeCallRemoteHangup, RemoteHangupRequest{Call: g.callID(), Side: side}
}

// reportProblem picks a call from the operator's recent history; a third
// of the reports reset the phone.
func (g *randomGen) reportProblem() (string, any) {
	a := g.agentFrom(g.lines)
	if g.r.IntN(2) == 0 {
		a = g.agentFrom(g.ring) // a reset withdraws the offer
	}
	call, ok := g.recent[a]
	if !ok || g.r.IntN(10) == 0 {
		call = g.callID()
	}
	return TypeAgentReportProblem, ReportProblemRequest{Agent: a, Report: fmt.Sprintf("r%d", g.r.IntN(1000)), Call: call,
		Description: "d", Reset: g.r.IntN(2) == 0, Confirm: true}
}

// flood deposits into the spare mailbox (not remembered in g.vm, which
// serves marks and deletes of ordinary mailboxes).
func (g *randomGen) flood() (string, any) {
	g.nextVM++
	return TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: "3009", Message: fmt.Sprintf("v%d", g.nextVM)}
}

func (g *randomGen) deposit(box string) (string, any) {
	g.nextVM++
	id := fmt.Sprintf("v%d", g.nextVM)
	g.vm = append(g.vm, box+"/"+id)
	if len(g.vm) > 32 {
		g.vm = g.vm[len(g.vm)-32:]
	}
	return TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: box, Message: id, From: g.pick(rCallers), DurationSeconds: g.r.IntN(120)}
}

// extraCommand builds the commands of the CTI, excluded-number,
// voicemail, forwarding, phone and presence features.
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
	switch n := g.r.IntN(34); {
	case n >= 28:
		return g.chatCommand()
	case n >= 25:
		return g.callbackCommand()
	case n < 4:
		if g.r.IntN(10) == 0 {
			box, id := vm() // a duplicate
			return TypeVoicemailDeposited, VoicemailDepositRequest{Mailbox: box, Message: id}
		}
		return g.deposit(g.pick(rMailboxes))
	case n < 8:
		box, id := vm()
		return TypeVoicemailMark, VoicemailMarkRequest{Mailbox: box, Message: id, Folder: g.pick([]string{FolderOld, FolderOld, FolderInbox, "x"}), User: user()}
	case n < 11:
		box, id := vm()
		return TypeVoicemailDelete, VoicemailDeleteRequest{Mailbox: box, Message: id, User: user()}
	case n < 12 && g.r.IntN(3) == 0:
		return TypeVoicemailSetPIN, VoicemailPINRequest{User: g.pick([]string{"u1", "u2", "bob", "nobody"}),
			PINHash: g.pick([]string{rPINHash, rPINHash, "1234"})}
	case n < 13 && g.r.IntN(4) == 0:
		return TypeVoicemailMonitor, VoicemailMonitorRequest{User: g.pick([]string{"u1", "u2", "bob"}), Mailbox: g.pick(rMailboxes), Monitor: g.r.IntN(3) > 0}
	case n < 14 && g.r.IntN(3) == 0:
		return TypeUserPreferences, PreferencesRequest{User: g.pick([]string{"u1", "u2", "nobody"}), Preferences: rPrefs[g.r.IntN(len(rPrefs))]}
	case n < 15:
		return TypeUserForwarding, ForwardingRequest{User: g.pick([]string{"u1", "u2", "u1", "u2", "bob"}), Forwarding: rForwards[g.r.IntN(len(rForwards))]}
	case n < 16:
		return TypeUserPresence, PresenceRequest{User: g.pick(rUsers), Presence: g.pick(append([]string{"nowhere"}, Presences...))}
	case n < 21:
		return g.phoneCommand()
	default:
		return g.configCommand()
	}
}

// rPINHash is the form of a voicemail PIN hash (the edge derives real ones).
const rPINHash = "pbkdf2-sha256$600000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// rPrefs are console preferences, valid and not (a grace out of range,
// a column named twice, a key bound twice in one state, two speed dials
// in one place), with the operator's own speed dials (none, or two).
var rPrefs = []Preferences{
	{},
	{Language: "es", AutoFailover: true, FailoverGraceSeconds: 5, HiddenColumns: []string{"supervision.note"}},
	{TimeFormat: "previous", Shortcuts: []Shortcut{{State: "connected", Key: "F4", Action: "hangup"}, {State: "global", Key: "F4", Action: "park"}}},
	{FailoverGraceSeconds: 601},
	{SpeedDialLineState: true, OwnSpeedDials: true, SpeedDials: []SpeedDial{{Label: "Desk", Label2: "Bob", Number: "2002", Colour: "teal", Page: 2, Position: 7},
		{Label: "Bank", Number: "+44 20 7946 0000", Page: 1, Position: 1}}},
	{OwnSpeedDials: true},
	{OwnSpeedDials: true, SpeedDials: []SpeedDial{{Number: "2002", Page: 1, Position: 1}, {Number: "2001", Page: 1, Position: 1}}},
	{HiddenColumns: []string{"queues.wait", "queues.wait"}},
	{Shortcuts: []Shortcut{{State: "paused", Key: "F4", Action: "hangup"}, {State: "paused", Key: "F4", Action: "park"}}},
}

// callbackCommand: web callbacks into the queues (and an unknown one),
// to 40 numbers (duplicates while one is open), sometimes excluded, an
// invalid priority, a short window starting within a minute (so slots
// close with callbacks still waiting, and pass); cancels of recent ones.
func (g *randomGen) callbackCommand() (string, any) {
	if len(g.cbs) > 0 && g.r.IntN(3) == 0 {
		id := g.pick(g.cbs) // recent: open, finished, or refused
		switch {
		case g.r.IntN(8) == 0:
			id = "cb-none"
		case len(g.openCBs) > 0 && g.r.IntN(3) > 0:
			id = g.pick(g.openCBs)
		}
		return TypeCallbackCancel, CallbackCancelRequest{Callback: id}
	}
	g.nextCB++
	id := fmt.Sprintf("cb%d", g.nextCB)
	g.cbs = append(g.cbs, id)
	if len(g.cbs) > 16 {
		g.cbs = g.cbs[len(g.cbs)-16:]
	}
	p := CallbackCreateRequest{Callback: id, Queue: g.pick([]string{"li", "rr", "ra", "fc", "sk", "li", "nope"}),
		Phone: fmt.Sprintf("0161 55 1%04d", g.r.IntN(40)), CustomerName: "Web customer", Priority: 1 + g.r.IntN(100)}
	switch g.r.IntN(15) {
	case 0:
		p.Priority = 0
	case 1:
		p.Phone = "0161 55 00003" // excluded
	}
	if g.r.IntN(3) == 0 {
		start := g.now.Add(time.Duration(g.r.IntN(60)) * time.Second)
		p.Schedule = []CallbackWindow{{Start: start.UnixNano(), End: start.Add(time.Duration(20+g.r.IntN(70)) * time.Second).UnixNano()}}
	}
	return TypeCallbackCreate, p
}

// chatCommand: web chat sessions into the queues (by destination or the
// configured chat queue; some refused: an undefined language, priority
// 0, a forbidden source character), messages and typing of customers
// and of the agents holding them (some on unknown or ended sessions, by
// another agent), ends by either side.
func (g *randomGen) chatCommand() (string, any) {
	session := func() string {
		switch {
		case len(g.openChats) > 0 && g.r.IntN(8) > 0:
			return g.pick(g.openChats)
		case len(g.chats) > 0 && g.r.IntN(2) == 0:
			return g.pick(g.chats)
		}
		return "chat-none"
	}
	if len(g.chatFresh) > 0 && g.r.IntN(3) == 0 {
		// a session an agent took (open or ended) whose transcript was
		// never sent: rare enough that the coverage floor needs them steered
		g.nextTranscript++
		return TypeChatTranscript, ChatTranscriptRequest{Session: g.pick(g.chatFresh), Reply: fmt.Sprintf("t%d", g.nextTranscript), To: "ana@example.com"}
	}
	n := g.r.IntN(10)
	if len(g.chatLines) > 0 && n < 7 {
		agent, id, _ := strings.Cut(g.pick(g.chatLines), "/")
		if g.r.IntN(10) == 0 {
			agent = g.pick([]string{"a1", "a2", "a3"})
		}
		switch g.r.IntN(8) {
		case 6, 7:
			// the agent holding it leaves (log-out steps, the console
			// closed): the chat goes back to its queue (chat.requeued)
			if g.r.IntN(3) > 0 {
				return TypeAgentClose, CloseRequest{Agent: agent, Confirm: true}
			}
			return TypeAgentLogout, AgentRequest{Agent: agent}
		case 0:
			return TypeChatTyping, ChatMessageRequest{Session: id, From: ChatFromAgent, Agent: agent}
		case 1:
			return TypeChatEnd, ChatEndRequest{Session: id, By: ChatFromAgent, Agent: agent}
		case 2, 3:
			// the customer asks for the transcript while an agent holds it
			// (a second time is refused)
			g.nextTranscript++
			return TypeChatTranscript, ChatTranscriptRequest{Session: id, Reply: fmt.Sprintf("t%d", g.nextTranscript), To: "ana@example.com"}
		}
		return TypeChatMessage, ChatMessageRequest{Session: id, From: ChatFromAgent, Agent: agent, Text: "agent says"}
	}
	if len(g.openChats) == 0 && n < 8 && g.r.IntN(2) == 0 {
		n = 8 // nothing open: mostly open one
	}
	switch {
	case n < 4:
		return TypeChatMessage, ChatMessageRequest{Session: session(), From: ChatFromCustomer, Text: "customer says"}
	case n < 6:
		return TypeChatTyping, ChatMessageRequest{Session: session(), From: ChatFromCustomer}
	case n < 7:
		return TypeChatEnd, ChatEndRequest{Session: session(), By: ChatFromCustomer}
	case n < 8:
		// the transcript by e-mail: once per session, after an agent took
		// it (some refused: before, twice, a malformed address)
		g.nextTranscript++
		id := session()
		if len(g.chatLines) > 0 { // one an agent holds
			_, id, _ = strings.Cut(g.pick(g.chatLines), "/")
		}
		return TypeChatTranscript, ChatTranscriptRequest{Session: id, Reply: fmt.Sprintf("t%d", g.nextTranscript),
			To: g.pick([]string{"ana@example.com", "ana@example.com", "bad@localhost"})}
	}
	g.nextCh++
	id := fmt.Sprintf("chat%d", g.nextCh)
	g.chats = append(g.chats, id)
	if len(g.chats) > 16 {
		g.chats = g.chats[len(g.chats)-16:]
	}
	p := ChatCreateRequest{Session: id, ChatLanguage: g.pick([]string{"en", "es", "en"}), Priority: 1 + g.r.IntN(100),
		CustomerName: "Chat customer", Source: "web", Destination: g.pick([]string{"", "rr", "sk", "the shop"})}
	switch g.r.IntN(15) {
	case 0:
		p.Priority = 0
	case 1:
		p.ChatLanguage = "fr"
	case 2:
		p.Source = "a(b)"
	}
	return TypeChatCreate, p
}

// phoneCommand: registrations (the secure phone 3002/s only with a valid
// secret), secrets that expire within seconds to five minutes of engine
// time (some replaced while valid: a grace period),
// ring order and ringing switches.
func (g *randomGen) phoneCommand() (string, any) {
	ph := rPhones[g.r.IntN(len(rPhones))]
	switch g.r.IntN(6) {
	case 0, 1:
		// Mostly registered: an operator whose reported phone is down
		// cannot log in (agent.login), and the rest of the run needs
		// operators.
		return TypePhoneRegistration, PhoneRegistrationRequest{Extension: ph[0], Phone: ph[1], Registered: g.r.IntN(8) > 0}
	case 2, 5:
		secret := fmt.Sprintf("s3cr3t-%016d", g.r.IntN(1e9))
		if g.r.IntN(10) == 0 {
			secret = "short"
		}
		return TypePhoneSetSecret, SetSecretRequest{Extension: "3002", Phone: g.pick([]string{"s", "s", "s", "d"}), Secret: secret,
			ExpiresAt: g.now.Add(time.Duration(10+g.r.IntN(290)) * time.Second)}
	case 3:
		return TypePhoneSetOrder, PhoneOrderRequest{Extension: ph[0], Phone: ph[1], Order: g.r.IntN(4)}
	default:
		return TypePhoneSetRinging, PhoneRingingRequest{Extension: ph[0], Phone: ph[1], Enabled: g.r.IntN(3) > 0}
	}
}

// configCommand: excluded numbers added, the country code changed (the
// stored list renormalises), or the spare extension 3009 removed (a
// pruning apply of the whole document, after the mailbox flood) and put
// back.
func (g *randomGen) configCommand() (string, any) {
	switch n := g.r.IntN(10); {
	case n < 4 && !g.flooding() && g.step > g.steps/5:
		if g.spareGone {
			g.spareGone = false
			return TypeConfigApply, ApplyRequest{Document: g.full}
		}
		g.spareGone = true
		return TypeConfigApply, ApplyRequest{Document: g.noSpare, Prune: true}
	case n < 6:
		return TypeConfigApply, ApplyRequest{Document: Document{ExcludedNumbers: []string{fmt.Sprintf("0161 55 %05d", g.r.IntN(10))}}}
	}
	cc := g.pick([]string{"44", "33", ""})
	area := "161"
	if cc == "" {
		area = ""
	}
	return TypeConfigApply, ApplyRequest{Document: Document{Settings: &Settings{RingTimeoutSeconds: 10, AutoReturnSeconds: 15,
		ParkReturnSeconds: 20, OutsideLinePrefix: "9", DefaultCountryCode: cc, DefaultAreaCode: area,
		PhoneSecrets: PhoneSecretSettings{GraceSeconds: 30}}}}
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
		if ev.Type == EvChatCreated {
			// A chat session's call enters its queue.
			var ch ChatEvent
			_ = json.Unmarshal(ev.Data, &ch)
			if ct.live[ch.Call] {
				t.Fatalf("chat %s created live call %s again", ch.Session, ch.Call)
			}
			ct.live[ch.Call] = true
			continue
		}
		if ev.Type == EvMailReceived {
			var m MailReceivedEvent
			_ = json.Unmarshal(ev.Data, &m)
			if !m.Threaded {
				if ct.live[m.Contact] {
					t.Fatalf("%s created live contact %s again", env.Type, m.Contact)
				}
				ct.live[m.Contact] = true
			}
			continue
		}
		if ev.Type == EvCallbackUpdated {
			// A callback's attempt became a call waiting in its queue.
			var cb CallbackEvent
			_ = json.Unmarshal(ev.Data, &cb)
			if cb.Status == CallbackQueued {
				if ct.live[cb.Call] {
					t.Fatalf("callback %s queued live call %s again", cb.Callback, cb.Call)
				}
				ct.live[cb.Call] = true
			}
			continue
		}
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

// randomSteps is the length of the random sequence of one seed, and
// randomSeeds the number of seeds TestRandomSequences runs by default
// (-short: a quarter of the steps, without the coverage floor).
const (
	randomSteps = 6800
	randomSeeds = 4
)

// TestRandomSequences applies long random command sequences (fixed seeds)
// to two engines, checking after every step the invariants, that a
// refusal changes nothing, that no call is lost, and that both engines
// emit the same events; halfway a third engine restores a snapshot and
// follows. All three end with the same hash. The run (all its seeds)
// must also reach every command type and notable outcome at least
// randomCoverageFloor times; the coverage table is logged (go test -v).
func TestRandomSequences(t *testing.T) {
	steps := randomSteps
	if testing.Short() {
		steps = randomSteps / 4
	}
	seeds := uint64(randomSeeds)
	if n, err := strconv.ParseUint(os.Getenv("TANDEM_RANDOM_SEEDS"), 10, 32); err == nil && n > 0 {
		seeds = n // a longer hunt: TANDEM_RANDOM_SEEDS=200 go test -run TestRandomSequences
	}
	cov := newRandomCoverage()
	ran := uint64(0)
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			cov.add(runRandom(t, seed, steps))
			ran++
		})
	}
	t.Logf("coverage of %d seeds × %d steps (floor %d):\n%s", ran, steps, randomCoverageFloor, cov.table())
	if ran < randomSeeds || steps < randomSteps {
		t.Logf("coverage floor not checked: %d of %d seeds ran, %d of %d steps each", ran, randomSeeds, steps, randomSteps)
		return
	}
	for _, low := range cov.belowFloor() {
		t.Errorf("reached %s", low)
	}
}

// runRandom runs one random sequence and returns what it reached.
func runRandom(t *testing.T, seed uint64, steps int) *randomCoverage {
	h := newHarness(t, randomDoc)
	twin := New()
	var restored *Engine
	for _, env := range h.log {
		if _, err := twin.Apply(env, command.NewEmitter(0, env)); err != nil {
			t.Fatal(err)
		}
	}
	g := newRandomGen(t, seed, steps)
	ct := &callTracker{live: map[string]bool{}}
	cov := newRandomCoverage()
	accepted := 0
	for i := 0; i < steps; i++ {
		h.advance(time.Duration(g.r.IntN(2500)) * time.Millisecond)
		if i%600 == 599 {
			// A day passes now and then: the daily data maintenance runs
			// at the next tick, pruning histories in the middle of calls.
			h.advance(24 * time.Hour)
		}
		h.e.View(func(s *State) { g.see(s, h.now, i) })
		typ, payload := g.command()
		env := h.env(typ, payload)
		_, err := h.applyEnv(env)
		cov.observe(typ, err, h.events)
		if err == nil {
			accepted++
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
	return cov
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

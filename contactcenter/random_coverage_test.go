package contactcenter

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/command"
)

// randomCoverageFloor is the fewest times one run of the randomized test
// (TestRandomSequences: randomSeeds seeds × randomSteps commands) must
// apply each command type the engine registers (accepted, not refused)
// and reach each notable outcome in randomOutcomes. A feature reached
// once or twice could be luck that a change to the engine or the
// generator silently loses. The generator is steered (randomCommands,
// followUp) so that a run reaches each well above the floor: over 40
// seeds taken four at a time, the rarest outcome (an automatic pause)
// came 11 times or more, every other one 15 times or more.
const randomCoverageFloor = 8

// randomOutcomes are the notable outcomes the randomized test must reach:
// every event the engine emits, and for those whose meaning depends on a
// reason, kind or destination, each meaning (the key is outcomeKey's). An
// event the engine emits under a key missing here fails the run too, so
// the table grows with the engine.
var randomOutcomes = []struct{ key, what string }{
	{"agent.state_changed", "log-in, log-out, pause steps"},
	{EvMaintenance, "daily data maintenance (a day passes every 600 steps)"},
	{"agent.state_changed auto", "automatic pause after max_no_answer"},
	{"agent.wrapup_started", "wrap-up after a conversation"},
	{"agent.wrapup_ended", "wrap-up over (tick or command)"},
	{"agent.phone_reset", "idle hang-up or report-and-reset"},

	{"call.queued new", "a new call waits in a queue"},
	{"call.queued auto_return", "auto-return into the personal queue"},
	{"call.queued chain_return", "chain return into the personal queue"},
	{"call.queued transfer_busy", "busy transfer target, operator busy: personal queue"},
	{"call.queued logout", "log-out sends personal calls back to their queue"},
	{"call.queued login", "unattended calls reclaimed at log-in"},
	{"call.queued retrieve", "ringing queue call redirected to the personal queue by a retrieve"},
	{"call.identified", "caller matched, internal or excluded"},
	{"call.forwarded", "logged-out operator's call forwarded"},
	{"call.unattended", "logged-out operator's call waits unattended (U)"},
	{"call.offered", "a call rings on agents"},
	{"call.offer_withdrawn answered_elsewhere", "ring-all answered by another agent"},
	{"call.offer_withdrawn logout", "offer withdrawn at log-out"},
	{"call.offer_withdrawn reset", "offer withdrawn by a phone reset"},
	{"call.offer_withdrawn retrieve", "offer withdrawn by a retrieve"},
	{"call.no_answer", "offer rang out"},
	{"call.rejected", "offer rejected"},
	{"call.answered", "offer answered"},
	{"call.ringing", "direct call rings an extension"},
	{"call.dialing", "operator dials"},
	{"call.connected", "outgoing leg answered"},
	{"call.connected C", "chain transfer answered by its target"},
	{"call.connected C complete", "attended transfer completed as a chain"},
	{"call.held", "hold"},
	{"call.retrieved hold", "held call taken back"},
	{"call.retrieved supervision", "call retrieved from supervision"},
	{"call.retrieved supervision U", "unattended call taken by an operator"},
	{"call.retrieved personal", "call retrieved from the personal queue"},
	{"call.transfer_started T", "blind transfer"},
	{"call.transfer_started C", "chain transfer"},
	{"call.transfer_busy hold", "busy transfer target: caller held with the operator"},
	{"call.transfer_busy personal", "busy transfer target: caller to the personal queue"},
	{"call.transferred T", "blind transfer answered"},
	{"call.transferred O", "camp-on answered"},
	{"call.transferred attended", "attended transfer completed"},
	{"call.consult_started", "consultation on line 2"},
	{"call.consult_busy", "consulted party busy"},
	{"call.camped", "camp-on"},
	{"call.parked P", "park"},
	{"call.parked D", "directed park"},
	{"call.park_retrieved dial", "directed park picked up by an operator's *55"},
	{"call.park_retrieved pickup", "directed park picked up from any phone"},
	{"call.coupled", "couple"},
	{"call.returned T auto_return", "blind transfer not answered: auto-return"},
	{"call.returned C auto_return", "chain not answered: auto-return"},
	{"call.returned O auto_return", "camp-on not answered: auto-return"},
	{"call.returned P auto_return", "park timeout"},
	{"call.returned D auto_return", "directed park timeout"},
	{"call.returned C chain_return", "chain return"},
	{"call.note_updated", "note"},
	{"call.supervision_band", "supervision colour band"},
	{"call.ended hangup", "hung up"},
	{"call.ended abandoned", "caller gave up waiting"},
	{"call.ended busy", "dialled or consulted party busy"},
	{"call.ended reset", "ended by a phone reset"},
	{"call.ended merged", "consultation merged by complete"},
	{"call.ended cancelled", "consultation cancelled"},
	{"call.ended peer_hangup", "coupled peer hung up"},

	{"call.queued callback", "a web callback's attempt waits in its queue"},
	{"call.ended window_closed", "a waiting callback's slot closed"},
	{EvCallbackCreated, "web callback accepted"},
	{EvCallbackUpdated, "web callback status changed"},
	{EvCallbackDial, "web callback taken: the customer is dialled"},
	{"call.queued chat", "a web chat session waits in its queue"},
	{EvChatCreated, "web chat session accepted"},
	{EvChatAnswered, "web chat session taken by an agent"},
	{EvChatMessage, "chat message of a customer or an agent"},
	{EvChatTyping, "chat typing indicator"},
	{EvChatEnded, "web chat session ended"},
	{EvChatRequeued, "a connected chat's agent logged out: the session waits in its queue again"},

	{"queue.stats", "queue statistics"},
	{"phone.registration", "phone registered or not"},
	{"phone.secret_rotated", "secure phone secret set"},
	{"phone.secret_expired", "secure phone secret expired"},
	{"phone.secret_grace_ended", "a replaced secure phone secret stopped working"},
	{"user.presence", "presence"},
	{"user.forwarding", "forwarding settings"},
	{"user.preferences", "console preferences"},
	{"voicemail.pin_set", "a mailbox's PIN set"},
	{"voicemail.monitored", "a user starts or stops monitoring a mailbox"},
	{"problem.reported", "report a problem"},
	{"voicemail.deposited", "message left"},
	{"voicemail.marked", "message marked"},
	{"voicemail.deleted deleted", "message deleted"},
	{"voicemail.deleted limit", "full mailbox drops its oldest message"},
	{"voicemail.deleted mailbox_removed", "extension removed with its mailbox"},
	{"mail.received", "an e-mail becomes a contact in its alias's queue"},
	{"mail.skipped", "an auto-reply, bulk, own or second copy of an e-mail recorded without a contact"},
	{"mail.reply_queued", "an agent's reply enters the outbox"},
	{"mail.sending", "the sender records an attempt (within the per-minute limit)"},
	{"mail.sent", "an attempt's outcome: sent, retry, failed, uncertain"},

	{"config.settings.updated", "settings changed"},
	{"config.excluded_number.created", "excluded number added"},
	{"config.excluded_number.removed", "excluded number renormalised or pruned"},
	{"config.extension.created", "spare extension added back"},
	{"config.extension.updated", "phone order or ringing changed"},
	{"config.extension.removed", "spare extension pruned"},
}

// outcomeKey names what an event tells: its type, and for events whose
// meaning depends on it the reason, kind or destination (typ, the
// command, tells a completed chain from an answered one).
func outcomeKey(typ string, ev command.Event) string {
	var d struct {
		Reason, Kind, To, From, Agent string
		Auto                          bool
	}
	switch ev.Type {
	case EvCallQueued, EvCallOfferWithdrawn, EvCallEnded, EvVoicemailDeleted, EvCallReturned,
		EvCallTransferBusy, EvCallTransferred, EvCallTransferStarted, EvCallParked, EvCallConnected,
		EvCallRetrieved, EvCallParkRetrieved, EvAgentStateChanged:
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return ev.Type + " (undecodable)"
		}
	default:
		return ev.Type
	}
	parts := []string{ev.Type}
	switch ev.Type {
	case EvCallQueued, EvCallOfferWithdrawn, EvCallEnded, EvVoicemailDeleted:
		parts = append(parts, d.Reason)
	case EvCallReturned:
		parts = append(parts, d.Kind, d.Reason)
	case EvCallTransferBusy:
		parts = append(parts, d.To)
	case EvCallTransferred, EvCallTransferStarted, EvCallParked:
		parts = append(parts, d.Kind)
	case EvCallConnected:
		if d.Kind != "" {
			parts = append(parts, d.Kind)
			if typ == TypeCallComplete {
				parts = append(parts, "complete")
			}
		}
	case EvCallRetrieved:
		parts = append(parts, d.From)
		if d.Kind == KindUnattended {
			parts = append(parts, d.Kind)
		}
	case EvCallParkRetrieved:
		if d.Agent != "" {
			parts = append(parts, "dial")
		} else {
			parts = append(parts, "pickup")
		}
	case EvAgentStateChanged:
		if d.Auto {
			parts = append(parts, "auto")
		}
	}
	return strings.Join(parts, " ")
}

// randomCoverage counts, over one run, the commands applied and refused
// by type and the outcomes reached.
type randomCoverage struct {
	accepted, refused map[string]int
	outcomes          map[string]int
}

func newRandomCoverage() *randomCoverage {
	return &randomCoverage{accepted: map[string]int{}, refused: map[string]int{}, outcomes: map[string]int{}}
}

// add counts another run's coverage into c.
func (c *randomCoverage) add(o *randomCoverage) {
	for _, m := range []struct{ dst, src map[string]int }{{c.accepted, o.accepted}, {c.refused, o.refused}, {c.outcomes, o.outcomes}} {
		for k, n := range m.src {
			m.dst[k] += n
		}
	}
}

func (c *randomCoverage) observe(typ string, err error, events []command.Event) {
	if err != nil {
		c.refused[typ]++
		return
	}
	c.accepted[typ]++
	for _, ev := range events {
		c.outcomes[outcomeKey(typ, ev)]++
	}
}

// coverageCommands is every command type the engine registers: the
// payload registry of CheckPayload and config.apply (TestPayloadRegistry
// holds the registry to the engine's handlers).
func coverageCommands() []string {
	return append(sortedKeys(payloadOf), TypeConfigApply)
}

// belowFloor lists what the run reached fewer than randomCoverageFloor
// times, and outcomes missing from randomOutcomes.
func (c *randomCoverage) belowFloor() []string {
	var out []string
	for _, typ := range coverageCommands() {
		if n := c.accepted[typ]; n < randomCoverageFloor {
			out = append(out, fmt.Sprintf("command %s %d times (floor %d)", typ, n, randomCoverageFloor))
		}
	}
	known := map[string]bool{}
	for _, o := range randomOutcomes {
		known[o.key] = true
		if n := c.outcomes[o.key]; n < randomCoverageFloor {
			out = append(out, fmt.Sprintf("outcome %q (%s) %d times (floor %d)", o.key, o.what, n, randomCoverageFloor))
		}
	}
	for _, k := range sortedKeys(c.outcomes) {
		if !known[k] {
			out = append(out, fmt.Sprintf("outcome %q, which randomOutcomes does not list: add it", k))
		}
	}
	return out
}

// table formats the counts: every command type, then every notable
// outcome; "<" marks those below the floor.
func (c *randomCoverage) table() string {
	var b strings.Builder
	mark := func(n int) string {
		if n < randomCoverageFloor {
			return " <"
		}
		return ""
	}
	fmt.Fprintf(&b, "  %-34s %8s %8s\n", "command", "accepted", "refused")
	for _, typ := range coverageCommands() {
		fmt.Fprintf(&b, "  %-34s %8d %8d%s\n", typ, c.accepted[typ], c.refused[typ], mark(c.accepted[typ]))
	}
	fmt.Fprintf(&b, "  %-40s %6s  %s\n", "outcome", "count", "what")
	listed := map[string]bool{}
	for _, o := range randomOutcomes {
		listed[o.key] = true
		fmt.Fprintf(&b, "  %-40s %6d  %s%s\n", o.key, c.outcomes[o.key], o.what, mark(c.outcomes[o.key]))
	}
	for _, k := range sortedKeys(c.outcomes) {
		if !listed[k] {
			fmt.Fprintf(&b, "  %-40s %6d  (not in randomOutcomes)\n", k, c.outcomes[k])
		}
	}
	return b.String()
}

// The coverage table lists every command type the engine applies, and
// each notable outcome once.
func TestRandomCoversFeatures(t *testing.T) {
	cmds := coverageCommands()
	sort.Strings(cmds)
	if got, want := strings.Join(cmds, " "), strings.Join(CommandTypes(), " "); got != want {
		t.Fatalf("coverage table commands\n%s\nengine commands\n%s", got, want)
	}
	seen := map[string]bool{}
	for _, o := range randomOutcomes {
		if seen[o.key] || o.what == "" {
			t.Errorf("outcome %q listed twice or without a description", o.key)
		}
		seen[o.key] = true
	}
	// The floor is checked on each full run of TestRandomSequences; a
	// run reaching nothing fails it on every row.
	if low := newRandomCoverage().belowFloor(); len(low) != len(cmds)+len(randomOutcomes) {
		t.Fatalf("an empty run is below the floor on %d of %d rows", len(low), len(cmds)+len(randomOutcomes))
	}
}

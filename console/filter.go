package console

import (
	"encoding/json"
	"strings"

	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// scope is what one stream subscriber may see (DESIGN.md, "Stream
// filter"): an integration holding the admin token sees every event (the
// engine puts no secret in any); an operator sees its own agent, its
// calls, the queues its agent serves, every supervised call and the
// directory's line states.
type scope struct {
	all   bool
	agent string
	user  string
	// exts are the agent's and the user's extensions; mailboxes the
	// user's own and monitored ones; queues those the agent serves.
	exts      map[string]bool
	mailboxes map[string]bool
	queues    map[string]bool
}

// scopeOf is a's scope in the configuration of st.
func scopeOf(a Actor, st *cc.State) scope {
	if a.Admin {
		return scope{all: true}
	}
	s := scope{agent: a.Agent, user: a.User, exts: map[string]bool{}, mailboxes: map[string]bool{}, queues: map[string]bool{}}
	if ag, ok := st.Config.Agents[a.Agent]; ok && a.Agent != "" {
		for _, q := range ag.Queues {
			s.queues[q] = true
		}
		if ag.Extension != "" {
			s.exts[ag.Extension] = true
		}
	}
	if u, ok := st.Config.Users[a.User]; ok && a.User != "" {
		if u.Extension != "" {
			s.exts[u.Extension] = true
			s.mailboxes[u.Extension] = true
		}
		for _, m := range u.MonitoredMailboxes {
			s.mailboxes[m] = true
		}
		if us := st.Users[a.User]; us != nil {
			for _, m := range us.Monitored {
				s.mailboxes[m] = true
			}
		}
	}
	return s
}

// refs are the identifiers an event's data may carry; the filter decides
// from them alone.
type refs struct {
	Call      string   `json:"call"`
	Agent     string   `json:"agent"`
	Agents    []string `json:"agents"`
	Queue     string   `json:"queue"`
	Extension string   `json:"extension"`
	User      string   `json:"user"`
	Mailbox   string   `json:"mailbox"`
	Place     string   `json:"place"`
	Kind      string   `json:"kind"`
	From      string   `json:"from"`
	ID        string   `json:"id"`
	Number    string   `json:"number"`
}

// supervision are the events of the supervised-calls list, which every
// operator may show whole ("show all supervised calls").
var supervision = map[string]bool{
	cc.EvCallTransferStarted: true, cc.EvCallTransferBusy: true, cc.EvCallCamped: true,
	cc.EvCallParked: true, cc.EvCallParkRetrieved: true, cc.EvCallCoupled: true,
	cc.EvCallReturned: true, cc.EvCallBand: true,
}

// sees reports whether the scope shows an event of type typ with refs r
// on its own (filter adds the events of calls seen in the same command).
func (s *scope) sees(typ string, r *refs) bool {
	if s.all {
		return true
	}
	mine := r.Agent != "" && r.Agent == s.agent
	for _, a := range r.Agents {
		mine = mine || (a != "" && a == s.agent)
	}
	ownQueue := r.Queue != "" && s.queues[r.Queue]
	switch {
	case supervision[typ],
		typ == cc.EvCallTransferred && r.Kind != "attended",
		typ == cc.EvCallRetrieved && r.From == "supervision",
		typ == cc.EvCallConnected && r.Kind == cc.KindChain,
		typ == cc.EvCallEnded && r.Place == cc.PlaceSupervised:
		return true
	case typ == cc.EvCallRinging:
		return s.exts[r.Extension]
	case strings.HasPrefix(typ, "call."), typ == cc.EvQueueStats:
		return mine || ownQueue
	case typ == cc.EvMailReceived:
		// A new contact's message to its queue's agents (as its
		// call.queued); an answer joining a held contact to the agent
		// holding it only.
		return mine || (ownQueue && r.Agent == "")
	case strings.HasPrefix(typ, "chat."):
		// A waiting session's events go to its queue's agents, a taken
		// one's to the agent holding it only.
		return mine || (ownQueue && r.Agent == "")
	case strings.HasPrefix(typ, "agent."), typ == cc.EvProblemReported:
		return mine
	case typ == cc.EvPhoneRegistration, typ == cc.EvUserPresence:
		return true // the directory's line states and presence
	case typ == cc.EvPhoneSecretRotated, typ == cc.EvPhoneSecretExpired, typ == cc.EvPhoneSecretGraceEnded:
		return s.exts[r.Extension]
	case typ == cc.EvUserForwarding, typ == cc.EvUserPreferences:
		return r.User != "" && r.User == s.user
	case strings.HasPrefix(typ, "voicemail."):
		return s.mailboxes[r.Mailbox]
	case strings.HasPrefix(typ, "config."):
		return s.seesConfig(typ, r)
	}
	return false
}

// seesConfig: an operator's own agent, user and extensions, the queues
// it serves, and the reference data every console needs (settings,
// pause reasons, contacts, business units).
func (s *scope) seesConfig(typ string, r *refs) bool {
	kind := strings.TrimPrefix(typ, "config.")
	kind, _, _ = strings.Cut(kind, ".")
	id := r.ID
	switch kind {
	case "settings", "pause_reason", "contact", "business_unit":
		return true
	case "agent":
		return id != "" && id == s.agent
	case "user":
		return id != "" && id == s.user
	case "queue":
		return s.queues[id]
	case "extension":
		if id == "" {
			id = r.Number
		}
		return s.exts[id]
	}
	return false
}

// filter returns the events of evs the scope shows, in order. Within one
// command, every event about a call the scope sees there is shown (the
// screen pop, call.identified, names only the call; a ring-out names the
// agent it rang on but re-queues the call in one of the scope's queues).
func (s *scope) filter(evs []command.Event) []command.Event {
	if s.all {
		return evs
	}
	var out []command.Event
	for i := 0; i < len(evs); {
		j := i + 1
		for j < len(evs) && evs[j].Index == evs[i].Index {
			j++
		}
		out = s.filterCommand(evs[i:j], out)
		i = j
	}
	return out
}

func (s *scope) filterCommand(cmd []command.Event, out []command.Event) []command.Event {
	rs := make([]refs, len(cmd))
	shown := make([]bool, len(cmd))
	var calls map[string]bool
	for k := range cmd {
		// Data that does not decode carries no reference: only the
		// type can show it.
		_ = json.Unmarshal(cmd[k].Data, &rs[k])
		shown[k] = s.sees(cmd[k].Type, &rs[k])
		if shown[k] && isCallEvent(cmd[k].Type) && rs[k].Call != "" {
			if calls == nil {
				calls = map[string]bool{}
			}
			calls[rs[k].Call] = true
		}
	}
	for k := range cmd {
		if shown[k] || (isCallEvent(cmd[k].Type) && calls[rs[k].Call]) {
			out = append(out, cmd[k])
		}
	}
	return out
}

func isCallEvent(typ string) bool { return strings.HasPrefix(typ, "call.") }

// ownQueues keeps the queues of qs the scope sees (the state document
// shows what the stream updates).
func (s *scope) ownQueues(qs []cc.QueueView) []cc.QueueView {
	if s.all {
		return qs
	}
	out := []cc.QueueView{}
	for _, q := range qs {
		if s.queues[q.Queue] {
			out = append(out, q)
		}
	}
	return out
}

// refreshes reports whether evs may change a scope (a configuration
// change: queues served, extensions, mailboxes).
func refreshes(evs []command.Event) bool {
	for i := range evs {
		if strings.HasPrefix(evs[i].Type, "config.") || evs[i].Type == cc.EvVoicemailMonitored {
			return true
		}
	}
	return false
}

package console

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
)

// StateDoc is what a console loads before it follows the event stream:
// the engine as of Position, exactly. Events after Position (Hub) bring it
// up to date; none is missing, none is shown twice.
type StateDoc struct {
	// Since is the position to follow the event stream from
	// (GET events?since=...): INDEX means after every event of that Raft
	// index.
	Since    string           `json:"since"`
	Position command.Position `json:"-"`
	// Consistency is the level the state was read at: "stale" marks an
	// answer from this node's state without a quorum round.
	Consistency string `json:"consistency"`
	NodeID      string `json:"node_id"`
	Role        string `json:"role"`
	LeaderID    string `json:"leader_id"`
	User        string `json:"user,omitempty"`
	// Agent is the operator's own state (lines, offer, personal queue,
	// recent history) and Calls the calls it refers to.
	Agent      json.RawMessage            `json:"agent,omitempty"`
	Calls      map[string]json.RawMessage `json:"calls,omitempty"`
	LoggedIn   int                        `json:"logged_in"`
	Queues     []cc.QueueView             `json:"queues"`
	Supervised []cc.SupervisedCall        `json:"supervised"`
	// Waiting are the calls waiting in every operator's personal queue
	// (type Q: the console shows its own, and the others' under "show
	// all") and, when the operator's preference says so, in the general
	// queues it serves (type G).
	Waiting []cc.SupervisedCall `json:"waiting"`
	// Preferences are the session user's console preferences (replicated:
	// the same on every member), absent for the admin token.
	Preferences *cc.Preferences `json:"preferences,omitempty"`
	// PreferencesRevision is the revision of Preferences (0 until
	// saved): a save names it, and is refused 412 precondition_failed
	// once another console saved since.
	PreferencesRevision uint64 `json:"preferences_revision"`
	// DirectorySearch are the directory's search fields the console
	// shows (settings.directory_search: field, label, default value).
	DirectorySearch []cc.DirectorySearchField `json:"directory_search,omitempty"`
}

// read waits until this node may answer at the requested consistency.
func (s *Service) read(ctx context.Context, c cluster.Consistency) error {
	if err := s.Store.Read(ctx, c); err != nil {
		return unavailable(err)
	}
	return nil
}

// State returns the console state of agent (the actor's own unless the
// actor is an integration naming one).
func (s *Service) State(ctx context.Context, a Actor, agent string, c cluster.Consistency) (StateDoc, error) {
	agent, err := s.agentFor(a, agent)
	if err != nil {
		return StateDoc{}, err
	}
	if err := s.read(ctx, c); err != nil {
		return StateDoc{}, err
	}
	st := s.Store.Status()
	doc := StateDoc{Consistency: c.String(), NodeID: st.NodeID, Role: st.Role, LeaderID: st.LeaderID, User: a.User}
	var missing bool
	s.Store.ViewAt(func(index uint64) {
		doc.Position = command.EndOf(index)
		doc.Since = formatPosition(doc.Position)
		var sc scope
		s.Engine.View(func(es *cc.State) {
			sc = scopeOf(a, es)
			doc.DirectorySearch = slices.Clone(es.Config.Settings.DirectorySearch)
			for _, ag := range es.Agents {
				if ag.State != cc.StateDisconnected {
					doc.LoggedIn++
				}
			}
			if agent == "" {
				return
			}
			ag, ok := es.Agents[agent]
			if !ok {
				missing = true
				return
			}
			doc.Agent, _ = json.Marshal(ag)
			doc.Calls = map[string]json.RawMessage{}
			for _, id := range append([]string{ag.Offer, ag.Line1, ag.Line2}, ag.Personal...) {
				if c, ok := es.Calls[id]; ok && id != "" {
					doc.Calls[id], _ = json.Marshal(c)
				}
			}
		})
		// The queues the stream updates for this actor (filter.go).
		doc.Queues = sc.ownQueues(s.Engine.Queues())
		doc.Supervised = s.Engine.Supervised(agent, true, "")
		var general []string
		if a.User != "" {
			p, rev, saved := s.Engine.UserPreferences(a.User)
			if saved {
				doc.Preferences = &p
			}
			doc.PreferencesRevision = rev
			if p.SupervisionGeneral {
				for _, q := range doc.Queues {
					general = append(general, q.Queue)
				}
			}
		}
		doc.Waiting = s.Engine.WaitingCalls(agent, true, general)
	})
	if missing {
		return StateDoc{}, apierr.Errorf(apierr.NotFound, "unknown agent %s", apierr.Quote(agent))
	}
	return doc, nil
}

// agentFor resolves which agent a read is about.
func (s *Service) agentFor(a Actor, asked string) (string, error) {
	if a.Admin {
		return asked, nil
	}
	if asked != "" && asked != a.Agent {
		return "", apierr.Errorf(apierr.Forbidden, "you act as agent %s, not %s", apierr.Quote(a.Agent), apierr.Quote(asked))
	}
	return a.Agent, nil
}

package replication

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// applyCtl applies one state command to c as the FSM would.
func applyCtl(t *testing.T, c *Control, index uint64, typ string, payload any) (ControlResult, []command.Event, error) {
	t.Helper()
	env, err := command.New(typ, "ctl-"+typ, time.Date(2026, 12, 4, 8, 0, int(index), 0, time.UTC), payload)
	if err != nil {
		t.Fatal(err)
	}
	em := command.NewEmitter(index, env)
	res, err := c.Apply(env, em)
	if err != nil {
		return ControlResult{}, em.Events(), err
	}
	return res.(ControlResult), em.Events(), nil
}

func snap(t *testing.T, c *Control) string {
	t.Helper()
	b, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// step is one state command.
type step struct {
	typ string
	p   any
}

// TestControlTransitions: the state machine of one target, every command
// from every state it can meet; a refusal changes nothing and emits
// nothing.
func TestControlTransitions(t *testing.T) {
	rep := TargetCommand{Target: Reporting}
	// reach is the commands that bring a fresh machine to a state.
	reach := map[State]step{
		Suspended: {TypeSuspend, rep},
		Stopped:   {TypeStop, rep},
		Shutdown:  {TypeShutdown, TargetsCommand{Targets: []string{Reporting}}},
		AutoStopped: {TypeAutoStop, TargetCommand{Target: Reporting, Reason: "buffer 96.0% full", Held95: true,
			Missing: &Range{After: command.Position{Index: 10}, UpTo: command.Position{Index: 20}}}},
	}
	tests := []struct {
		from   State
		typ    string
		p      any
		want   State
		refuse string // "" = applies
		msg    string
	}{
		{Active, TypeSuspend, rep, Suspended, "", "suspended"},
		{Suspended, TypeSuspend, rep, Suspended, "", "already suspended"},
		{Stopped, TypeSuspend, rep, Stopped, "suspend applies to active replication", ""},
		{Suspended, TypeResume, TargetCommand{Target: Reporting, Rate: 50}, Active, "", "at most 50 events/s"},
		{Active, TypeResume, TargetCommand{Target: Reporting, Rate: -1}, Active, "--rate", ""},
		{AutoStopped, TypeResume, rep, AutoStopped, "needs `tandemctl replication shutdown` and `restart`", ""},
		{Shutdown, TypeResume, rep, Shutdown, "needs `tandemctl replication shutdown`", ""},
		{Suspended, TypeStop, rep, Stopped, "", "stopped"},
		{AutoStopped, TypeStop, rep, AutoStopped, "", "already auto-stopped"},
		{Active, TypeAutoStop, TargetCommand{Target: Reporting, Reason: "gap"}, AutoStopped, "", "auto-stopped: gap"},
		{Stopped, TypeAutoStop, TargetCommand{Target: Reporting, Reason: "gap"}, Stopped, "", "already stopped"},
		{Active, TypeShutdown, TargetsCommand{Targets: []string{Reporting}}, Shutdown, "", "shut down"},
		{Active, TypeRestart, TargetsCommand{Targets: []string{Reporting}}, Active, "run `tandemctl replication shutdown` first", ""},
		{Suspended, TypeRestart, TargetsCommand{Targets: []string{Reporting}}, Suspended, "shutdown` first", ""},
		{Shutdown, TypeRestart, TargetsCommand{Targets: []string{Reporting}}, Active, "", "buffer cleared"},
		{AutoStopped, TypeRestart, TargetsCommand{Targets: []string{Reporting}}, Active, "", "missed data while stopped"},
		{Active, TypeSuspend, TargetCommand{Target: "archive"}, Active, `unknown replication target "archive"`, ""},
		{Active, TypeShutdown, TargetsCommand{Targets: []string{"nosuch"}}, Active, "unknown replication target", ""},
		{Active, TypeSuspend, map[string]string{"target": Reporting, "extra": "x"}, Active, "unknown field", ""},
		{Active, "replication.nosuch", rep, Active, "unknown replication command", ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.from)+" "+tc.typ, func(t *testing.T) {
			c := NewControl()
			if s, ok := reach[tc.from]; ok {
				if _, _, err := applyCtl(t, c, 1, s.typ, s.p); err != nil {
					t.Fatalf("setting up %s: %v", tc.from, err)
				}
			}
			before := snap(t, c)
			res, evs, err := applyCtl(t, c, 10, tc.typ, tc.p)
			if tc.refuse != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refuse) {
					t.Fatalf("err = %v, want a refusal containing %q", err, tc.refuse)
				}
				if after := snap(t, c); after != before || len(evs) != 0 {
					t.Fatalf("a refusal changed the state or emitted %d events:\n%s\n%s", len(evs), before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if ts, _ := c.State(Reporting); ts.State != tc.want || res.States[Reporting] != tc.want {
				t.Fatalf("state %s (result %v), want %s", ts.State, res.States, tc.want)
			}
			if !strings.Contains(res.Message, tc.msg) {
				t.Fatalf("message %q, want it to contain %q", res.Message, tc.msg)
			}
		})
	}
}

// TestControlRestartAndSync: a restart records what a target missed and
// emits the event where every node clears its buffer; a sync that covers
// the missed range clears needs_sync, one that does not keeps it.
func TestControlRestartAndSync(t *testing.T) {
	c := NewControl()
	miss := Range{After: command.Position{Index: 10}, UpTo: command.Position{Index: 30}}
	if _, _, err := applyCtl(t, c, 1, TypeShutdown, TargetsCommand{Targets: []string{Reporting, Standby}}); err != nil {
		t.Fatal(err)
	}
	_, evs, err := applyCtl(t, c, 2, TypeRestart, TargetsCommand{Targets: []string{Reporting}, Missing: map[string]Range{Reporting: miss}})
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != EventRestarted || !strings.Contains(string(last.Data), `"standby"`) {
		t.Fatalf("restart events %+v: want %s last, naming every target the cluster knows", evs, EventRestarted)
	}
	if ts, _ := c.State(Standby); ts.State != Active {
		t.Fatalf("a target only another node configures stayed %s", ts.State)
	}
	ts, _ := c.State(Reporting)
	if !ts.NeedsSync || ts.MissingAfter != miss.After || ts.MissingUpTo != miss.UpTo || ts.Held95 {
		t.Fatalf("after restart: %+v", ts)
	}
	partial := Range{After: command.Position{Index: 15}, UpTo: command.Position{Index: 40}}
	res, _, err := applyCtl(t, c, 3, TypeSynced, TargetCommand{Target: Reporting, Missing: &partial})
	if err != nil || !strings.Contains(res.Message, "still needs a sync") {
		t.Fatalf("partial sync: %+v %v", res, err)
	}
	full := Range{After: command.Position{Index: 5}, UpTo: command.Position{Index: 30}}
	if _, _, err := applyCtl(t, c, 4, TypeSynced, TargetCommand{Target: Reporting, Missing: &full}); err != nil {
		t.Fatal(err)
	}
	if ts, _ := c.State(Reporting); ts.NeedsSync || ts.MissingUpTo != (command.Position{}) {
		t.Fatalf("after a covering sync: %+v", ts)
	}
}

// TestControlSnapshotIsTheLegacyStateFile: the machine's snapshot is the
// JSON of the state file earlier builds kept per node, both ways.
func TestControlSnapshotIsTheLegacyStateFile(t *testing.T) {
	c := NewControl()
	if _, _, err := applyCtl(t, c, 1, TypeSuspend, TargetCommand{Target: Reporting}); err != nil {
		t.Fatal(err)
	}
	var sf stateFile
	if err := json.Unmarshal([]byte(snap(t, c)), &sf); err != nil || sf.Targets[Reporting].State != Suspended {
		t.Fatalf("snapshot %s as a state file: %+v %v", snap(t, c), sf, err)
	}
	d := NewControl()
	if err := d.Restore([]byte(snap(t, c))); err != nil {
		t.Fatal(err)
	}
	if snap(t, d) != snap(t, c) {
		t.Fatalf("restored %s, want %s", snap(t, d), snap(t, c))
	}
}

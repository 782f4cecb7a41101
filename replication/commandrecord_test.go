package replication

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/pgtest"
)

// committed fakes what the FSM hands a CommandSink for one command at
// index that emitted nEvents events.
func committed(t *testing.T, index uint64, n uint64, nEvents int) ([]command.Event, cluster.Committed) {
	t.Helper()
	env, err := command.New("agent.login", "cmd-"+string(rune('a'+index)), time.Unix(1_800_000_000, 0), map[string]string{"agent": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	var evs []command.Event
	for s := 0; s < nEvents; s++ {
		evs = append(evs, command.Event{Index: index, Seq: s, Type: "agent.state", Time: env.Time, CommandID: env.ID, Data: []byte(`{}`)})
	}
	return evs, cluster.Committed{Index: index, Events: nEvents, N: n, Env: env}
}

func readAll(t *testing.T, m *Manager, name string) []command.Event {
	t.Helper()
	evs, err := m.cons[name].Read(0)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return evs
}

func kinds(evs []command.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s@%d.%d", e.Type, e.Index, e.Seq))
	}
	return out
}

// TestPublishCommittedPlacesCommandRecords: a command record follows its
// command's events; engine events are kept only for reporting; without a
// standby there are no command records.
func TestPublishCommittedPlacesCommandRecords(t *testing.T) {
	e1, c1 := committed(t, 3, 1, 2)
	e2, c2 := committed(t, 4, 2, 0) // a command without events
	e3, c3 := committed(t, 6, 3, 1)
	other := command.Event{Index: 5, Seq: 0, Type: "cluster.node.updated", Data: []byte(`{}`)} // a cluster command's event
	events := append(append(append(append([]command.Event{}, e1...), e2...), other), e3...)
	cmds := []cluster.Committed{c1, c2, c3}
	tests := []struct {
		name    string
		targets []string
		want    []string // per reader: the first target's view
	}{
		{"both", []string{Reporting, Standby}, []string{
			"agent.state@3.0", "agent.state@3.1", "replication.command@3.2", "replication.command@4.0",
			"cluster.node.updated@5.0", "agent.state@6.0", "replication.command@6.1", "cluster.node.removed@7.0"}},
		{"standby only", []string{Standby}, []string{"replication.command@3.2", "replication.command@4.0", "replication.command@6.1"}},
		{"reporting only", []string{Reporting}, []string{"agent.state@3.0", "agent.state@3.1", "cluster.node.updated@5.0", "agent.state@6.0", "cluster.node.removed@7.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			targets := map[string]Target{}
			for _, n := range tc.targets {
				targets[n] = newFake()
			}
			m := openManager(t, t.TempDir(), 1<<20, &clock{t: time.Unix(1_800_000_000, 0)}, targets)
			m.PublishCommitted(events, cmds)
			m.PublishCommitted([]command.Event{{Index: 7, Type: "cluster.node.removed", Data: []byte(`{}`)}}, nil)
			got := kinds(readAll(t, m, tc.targets[0]))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("buffer holds %v\nwant %v", got, tc.want)
			}
			if _, ok := targets[Standby]; !ok {
				return
			}
			for _, ev := range readAll(t, m, Standby) {
				if !IsCommandRecord(&ev) {
					continue
				}
				rec, err := DecodeCommandRecord(&ev)
				if err != nil {
					t.Fatal(err)
				}
				env, err := command.Decode(rec.Env)
				if err != nil || env.ID != ev.CommandID || rec.N == 0 {
					t.Fatalf("record %v: n=%d env %+v err %v", ev.Pos(), rec.N, env, err)
				}
			}
		})
	}
}

// TestReportingSkipsCommandRecords delivers a batch mixing events and
// command records to a real PostgreSQL: only the events become rows, and
// the position covers the records too.
func TestReportingSkipsCommandRecords(t *testing.T) {
	dsn := pgtest.DSN(t)
	rt := &ReportingTarget{DSN: dsn}
	t.Cleanup(func() { rt.Close() })
	m := openManager(t, t.TempDir(), 1<<20, &clock{t: time.Unix(1_800_000_000, 0)}, map[string]Target{Reporting: newFake(), Standby: newFake()})
	e1, c1 := committed(t, 3, 1, 2)
	e2, c2 := committed(t, 4, 2, 1)
	m.PublishCommitted(append(e1, e2...), []cluster.Committed{c1, c2})
	batch := readAll(t, m, Standby) // both targets read the same stream
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name  string
		batch []command.Event
		want  command.Position
		rows  int
	}{
		{"events", batch[:2], command.Position{Index: 3, Seq: 1}, 2},
		{"only a command record", batch[2:3], command.Position{Index: 3, Seq: 2}, 2},
		{"mixed", batch, command.Position{Index: 4, Seq: 1}, 3},
		{"again", batch, command.Position{Index: 4, Seq: 1}, 3},
	}
	for _, tc := range tests {
		pos, err := rt.Deliver(ctx, tc.batch)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if pos != tc.want {
			t.Fatalf("%s: position %v, want %v", tc.name, pos, tc.want)
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		var rows, records int
		err = conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE type = $1) FROM tandem.events`, CommandRecordType).Scan(&rows, &records)
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rows != tc.rows || records != 0 {
			t.Fatalf("%s: %d rows (%d command records), want %d and none", tc.name, rows, records, tc.rows)
		}
	}
}

// TestStandbyFillingTheBufferIsStopped: at 75 %, when only the standby
// is behind, standby replication stops and reporting keeps going.
func TestStandbyFillingTheBufferIsStopped(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	rep, stb := newFake(), newFake()
	m := openManager(t, t.TempDir(), 256<<10, clk, map[string]Target{Reporting: rep, Standby: stb})
	idx, n := uint64(1), uint64(0)
	for i := 0; m.Status().BufferPercent < 75; i++ {
		if i > 10000 {
			t.Fatal("buffer never reached 75%")
		}
		n++
		evs, c := committed(t, idx, n, 3)
		idx++
		m.PublishCommitted(evs, []cluster.Committed{c})
		// Reporting keeps up; the standby is unreachable.
		if err := m.cons[Reporting].Ack(command.Position{Index: c.Index, Seq: c.Events}); err != nil {
			t.Fatal(err)
		}
	}
	m.SetLeader(true)
	m.Tick(clk.t)
	m.commitPending(context.Background())
	st := m.Status()
	if st.Targets[Standby].State != AutoStopped || st.Targets[Reporting].State != Active {
		t.Fatalf("after 75%% with only the standby behind: %+v (alarm %+v)", st.Targets, st.LastAlarm)
	}
	if !st.Targets[Standby].NeedsSync || !strings.Contains(st.LastAlarm.Message, "stopping standby replication") {
		t.Fatalf("alarm %+v, standby %+v", st.LastAlarm, st.Targets[Standby])
	}
}

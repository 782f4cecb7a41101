package reporting

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// A web callback's life, as the engine emits it, lands in the callbacks
// table: accepted, queued, dialled, retried after a busy customer,
// completed — each status with its attempt and outcome.
func TestCallbackEventsReachReporting(t *testing.T) {
	ctx := ctxT(t)
	db, _ := openMigrated(t)
	e := cc.New()
	var evs []command.Event
	idx := uint64(0)
	now := t0
	apply := func(typ string, payload any) {
		t.Helper()
		b, _ := json.Marshal(payload)
		idx++
		env := command.Envelope{Type: typ, Version: command.CurrentVersion, Time: now.UnixNano(), ID: fmt.Sprintf("cmd-%d", idx), Payload: b}
		em := command.NewEmitter(idx, env)
		if _, err := e.Apply(env, em); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		evs = append(evs, em.Events()...)
	}
	doc, err := cc.ParseDocument([]byte("queues: [{id: sales}]\nagents: [{id: a1, queues: [sales]}]\ncallbacks: {max_attempts: 2, retry_interval_seconds: 60}\n"))
	if err != nil {
		t.Fatal(err)
	}
	apply(cc.TypeConfigApply, cc.ApplyRequest{Document: doc})
	apply(cc.TypeAgentLogin, cc.AgentRequest{Agent: "a1"})
	apply(cc.TypeAgentLogin, cc.AgentRequest{Agent: "a1"})
	apply(cc.TypeCallbackCreate, cc.CallbackCreateRequest{Callback: "cb1", Queue: "sales", CustomerName: "Ana", Phone: "+34 91 555 0101", Priority: 70})
	apply(cc.TypeCallAnswer, cc.AgentCallRequest{Agent: "a1"})
	apply(cc.TypeCallRemoteBusy, cc.CallRequest{Call: "cb1.1"})
	now = now.Add(61e9)
	apply(cc.TypeClockTick, nil)
	apply(cc.TypeCallAnswer, cc.AgentCallRequest{Agent: "a1"})
	apply(cc.TypeCallRemoteAnswer, cc.CallRequest{Call: "cb1.2"})
	if _, err := db.Deliver(ctx, evs); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, db.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, db.sqlFor(`SELECT event, callback_id, coalesce(state, ''), coalesce(reason, ''), coalesce(attempt, 0),
		coalesce(call_id, ''), coalesce(phone, ''), coalesce(queue_id, '') FROM {{schema}}.callbacks ORDER BY raft_index, seq`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var ev, id, state, reason, call, phone, queue string
		var attempt int64
		if err := rows.Scan(&ev, &id, &state, &reason, &attempt, &call, &phone, &queue); err != nil {
			t.Fatal(err)
		}
		if id != "cb1" || queue != "sales" {
			t.Fatalf("row of %q in %q", id, queue)
		}
		got = append(got, fmt.Sprintf("%s %s %s %d %s %s", ev, state, reason, attempt, call, phone))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"callback.created scheduled  0  +34 91 555 0101",
		"callback.updated queued  1 cb1.1 ",
		"callback.dial dialing  1 cb1.1 +34 91 555 0101",
		"callback.updated scheduled busy 1  ",
		"callback.updated queued busy 2 cb1.2 ",
		"callback.dial dialing busy 2 cb1.2 +34 91 555 0101",
		"callback.updated completed answered 2 cb1.2 ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("callbacks table:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

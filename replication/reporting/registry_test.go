package reporting

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

func TestEachField(t *testing.T) {
	data := []byte(` { "a" : "x\"y" , "b":{"c":[1,{"d":"}"}]},"e\u0066":12.5e1,"g":true,"h":null, "i":[] ,"j":"\\"}`)
	got := map[string]string{}
	eachField(data, func(k, v []byte) { got[string(k)] = string(v) })
	want := map[string]string{
		"a": `"x\"y"`, "b": `{"c":[1,{"d":"}"}]}`, "ef": `12.5e1`, "g": "true", "h": "null", "i": "[]", "j": `"\\"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for _, bad := range []string{``, `[1]`, `"s"`, `{"a":`, `{"a" 1}`, `{"a":"unterminated}`, `{"a":1`, `{"a":[1,2}`} {
		eachField([]byte(bad), func(k, v []byte) {
			if string(k) != "a" {
				t.Errorf("%q: reported %q", bad, k)
			}
		})
	}
}

func TestProjectionValues(t *testing.T) {
	ev := command.Event{Index: 7, Seq: 1, Type: "call.ended", Time: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC).UnixNano(),
		Data: []byte(`{"call_id":"fallback","call":"c-1","queue_id":"q","line":"2","wait_seconds":1.5,"duration_ms":"123000","reason":"a\u0000b","note":12,"agent":null,"agent_id":"ag","by":"caller"}`)}
	rows := rowsFor(3, []command.Event{ev})[tableCalls]
	if len(rows) != 1 {
		t.Fatalf("%d call rows", len(rows))
	}
	row := map[string]any{}
	for i, c := range tableCalls.columnNames() {
		if rows[0][i] != nil {
			row[c] = rows[0][i]
		}
	}
	want := map[string]any{
		"cluster_id": int32(3), "raft_index": int64(7), "seq": int32(1), "time": time.Unix(0, ev.Time).UTC(), "event": "call.ended",
		"call_id": "c-1", "queue_id": "q", "agent_id": "ag", "line": int64(2), "wait_ms": int64(1500), "duration_ms": int64(123000),
		"reason": "a\ufffdb", "note": "12", "ended_by": "caller",
	}
	if !reflect.DeepEqual(row, want) {
		t.Fatalf("row %v\nwant %v", row, want)
	}
	if len(rowsFor(3, []command.Event{ev})[tableAgentStates]) != 0 {
		t.Fatal("a call event landed in agent_state_changes")
	}

	ev = command.Event{Index: 8, Type: "agent.wrapup_started", Time: 1, Data: []byte(`{"agent":"a1","until":1735787045000000000,"auto":true}`)}
	r := rowsFor(1, []command.Event{ev})[tableAgentStates][0]
	if r[5] != "a1" || r[9] != true || r[11] != time.Unix(0, 1735787045000000000).UTC() {
		t.Fatalf("agent row %v", r)
	}
}

func TestMillisUnits(t *testing.T) {
	for _, c := range []struct {
		key, raw string
		want     int64
	}{
		{"wait_ms", "250", 250}, {"wait_seconds", "2", 2000}, {"wait_s", "0.5", 500}, {"wait", "3000000000", 3000},
		{"wait_ns", "1000000", 1}, {"wait", `"1.5s"`, 1500}, {"wait_ms", `"42"`, 42},
	} {
		got, ok := millisValue(c.key, []byte(c.raw))
		if !ok || got != c.want {
			t.Errorf("%s=%s: %d %v, want %d", c.key, c.raw, got, ok, c.want)
		}
	}
	if _, ok := millisValue("wait", []byte(`"soon"`)); ok {
		t.Error("non-duration accepted")
	}
}

func TestRoutes(t *testing.T) {
	for typ, want := range map[string]string{
		"call.answered": "calls", "agent.logged_in": "agent_state_changes", "queue.stats": "queue_statistics",
		"callback.created": "callbacks", "chat.ended": "chats", "email.received": "emails", "mail.sent": "emails",
		"problem.reported": "problem_reports",
	} {
		ts := tablesFor(typ)
		if len(ts) != 1 || ts[0].Name != want {
			t.Errorf("%s → %v, want %s", typ, ts, want)
		}
	}
	for _, typ := range []string{"config.agents.updated", "calls.x", "call", "", "backup.done", "phone.registration", "user.presence", "problem.other"} {
		if ts := tablesFor(typ); len(ts) != 0 {
			t.Errorf("%s routed to %v", typ, ts)
		}
	}
	// Every routed table is a typed table (so it is migrated).
	for pat, ts := range routes {
		for _, tb := range ts {
			found := false
			for _, known := range typedTables {
				found = found || known == tb
			}
			if !found || !strings.HasSuffix(pat, ".*") && !strings.Contains(pat, ".") {
				t.Errorf("route %s → %s", pat, tb.Name)
			}
		}
	}
}

func TestJSONValue(t *testing.T) {
	if v := jsonValue(nil, false); v != nil {
		t.Errorf("nil → %v", v)
	}
	if v := jsonValue([]byte("null"), false); v != nil {
		t.Errorf("null → %v", v)
	}
	got := replaceEscapedNUL([]byte(`{"a":"\u0000","b":"\\u0000","c":"\\\u0000"}`))
	if string(got) != `{"a":"\ufffd","b":"\\u0000","c":"\\\ufffd"}` {
		t.Errorf("replaceEscapedNUL = %s", got)
	}
	if v := jsonValue([]byte("{oops"), true); string(v) != `"{oops"` {
		t.Errorf("strict invalid → %s", v)
	}
	if v := jsonValue([]byte("\"\xff\""), true); string(v) != "\"\\\"\uFFFD\\\"\"" {
		t.Errorf("strict invalid UTF-8 → %s", v)
	}
	if v := jsonValue([]byte(`{"a":1}`), true); string(v) != `{"a":1}` {
		t.Errorf("strict valid → %s", v)
	}
}

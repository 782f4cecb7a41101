package console

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestReceptionists: every operator with its queues, state and whether a
// call is on it, as any operator's receptionists tab reads it.
func TestReceptionists(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	benHash, _ := HashPassword("ben-password")
	r.config(fmt.Sprintf(rigDoc, annHash, benHash))
	ann, ben := r.login("ann", "ann-password"), r.login("ben", "ben-password")
	r.op(ann, "login", nil)
	r.op(ann, "login", nil)
	r.op(ben, "login", nil)
	r.edge("incoming", map[string]any{"call": "c1", "queue": "sales", "number": "+44 161 5527789"})
	rep := r.call("GET", r.public.URL+PublicPrefix+"/receptionists", ben, nil)
	if rep.code != 200 {
		t.Fatalf("%d %s", rep.code, rep.raw)
	}
	var got []Receptionist
	if err := json.Unmarshal([]byte(rep.raw), &got); err != nil {
		t.Fatal(err)
	}
	want := []Receptionist{
		{Agent: "a1", Name: "Ann", Extension: "2001", Queues: []string{"sales"}, State: "connected", OnCall: true},
		{Agent: "a2", Name: "Ben", Extension: "2002", Queues: []string{"sales"}, State: "paused", Reason: "login"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("receptionists %+v, want %+v", got, want)
	}
	if rep := r.call("GET", r.public.URL+PublicPrefix+"/receptionists", "", nil); rep.code != 401 {
		t.Fatalf("without a session: %d", rep.code)
	}
}

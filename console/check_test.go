package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/tandemcc/tandem/cluster"
)

// A mistyped or malformed operation is refused at the edge with the field
// named, and never reaches the Raft log: the commit index does not move.
func TestMalformedOperationNeverProposed(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	r.config(fmt.Sprintf(rigDoc, annHash, annHash))
	ann := r.login("ann", "ann-password")
	tests := []struct {
		name, op string
		body     any
		field    string
		admin    bool
	}{
		{"unknown field", "pause", map[string]any{"reason": "lunch", "resaon": "x"}, "resaon", false},
		{"wrong type", "note", map[string]any{"call": "c1", "note": 42}, "note", false},
		{"edge: wrong type", "incoming", map[string]any{"queue": 7}, "queue", true},
		{"edge: unknown field", "remote_answer", map[string]any{"call": "c1", "calll": "c2"}, "calll", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.store.Status().CommitIndex
			var rep reply
			if tt.admin {
				rep = r.call("POST", r.admin.URL+"/v1/console/ops/"+tt.op, "", tt.body)
			} else {
				rep = r.op(ann, tt.op, tt.body)
			}
			if rep.code != 400 || rep.body["field"] != tt.field {
				t.Errorf("%s %v: %d %s; want 400 naming %q", tt.op, tt.body, rep.code, rep.raw, tt.field)
			}
			if after := r.store.Status().CommitIndex; after != before {
				t.Errorf("commit index moved from %d to %d: the malformed operation was proposed", before, after)
			}
		})
	}
}

// Every read takes one consistency parameter: an unknown value is a 400
// naming it, and the level answered at is marked (header, and field where
// the body is the console's state).
func TestReadConsistency(t *testing.T) {
	r := newRig(t)
	annHash, _ := HashPassword("ann-password")
	r.config(fmt.Sprintf(rigDoc, annHash, annHash))
	ann := r.login("ann", "ann-password")
	base := r.public.URL + PublicPrefix
	for _, path := range []string{"/state", "/queues", "/directory"} {
		for _, tt := range []struct{ q, want string }{{"", "linearizable"}, {"?consistency=linearizable", "linearizable"}, {"?consistency=stale", "stale"}} {
			req, _ := http.NewRequest("GET", base+path+tt.q, nil)
			req.Header.Set("Authorization", "Bearer "+ann)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get(cluster.ConsistencyHeader) != tt.want {
				t.Errorf("GET %s%s: %d, %s: %q; want 200, %q", path, tt.q, resp.StatusCode, cluster.ConsistencyHeader,
					resp.Header.Get(cluster.ConsistencyHeader), tt.want)
			}
			if path == "/state" && body["consistency"] != tt.want {
				t.Errorf("GET /state%s: consistency field %v, want %q", tt.q, body["consistency"], tt.want)
			}
		}
		rep := r.call("GET", base+path+"?consistency=eventual", ann, nil)
		if rep.code != 400 || rep.body["field"] != "consistency" {
			t.Errorf("GET %s?consistency=eventual: %d %s; want 400 naming consistency", path, rep.code, rep.raw)
		}
	}
}

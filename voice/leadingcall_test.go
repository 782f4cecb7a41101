package voice

import (
	"encoding/json"
	"testing"

	"github.com/tandemcc/tandem/contactcenter"
)

// TestLeadingCall: the call leadingCall reads is the one json.Unmarshal
// reads, or it leaves the event to json.Unmarshal.
func TestLeadingCall(t *testing.T) {
	ev := contactcenter.QueuedEvent{Call: "mail-7-12", Queue: "support", Name: "Customer <1>", Position: 3, Waiting: 3, Reason: "new"}
	for _, tc := range []struct {
		data string
		ok   bool
	}{
		{string(ev.AppendJSON(nil)), true},
		{`{"call":"c1"}`, true},
		{`{"call":""}`, true},
		{`{"call":"a\"b","queue":"q"}`, false},
		{`{"call":"\u00e9"}`, false},
		{`{ "call":"c1"}`, false},
		{`{"queue":"q","call":"c1"}`, false},
		{`{"call":"c1`, false},
		{`null`, false},
	} {
		got, ok := leadingCall([]byte(tc.data))
		if ok != tc.ok {
			t.Fatalf("%s: ok %v, want %v", tc.data, ok, tc.ok)
		}
		var want struct {
			Call string `json:"call"`
		}
		if ok && (json.Unmarshal([]byte(tc.data), &want) != nil || got != want.Call) {
			t.Fatalf("%s: read %q, json.Unmarshal %q", tc.data, got, want.Call)
		}
	}
}

package ops

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/tandemcc/tandem/command"
)

// TestEventCounterCounts holds the tallying Publish to one increment per
// event, whatever the mix and order of types.
func TestEventCounterCounts(t *testing.T) {
	evs := func(types ...string) []command.Event {
		out := make([]command.Event, len(types))
		for i, typ := range types {
			out[i] = command.Event{Index: 1, Seq: i, Type: typ}
		}
		return out
	}
	var many []string
	for i := 0; i < 1000; i++ {
		many = append(many, "contact.queued", "mail.received")
	}
	var distinct []string
	for i := 0; i < 20; i++ { // more types than the tally's first array
		distinct = append(distinct, string(rune('a'+i)), "x")
	}
	cases := []struct {
		name    string
		batches [][]command.Event
		want    map[string]float64
	}{
		{"none", [][]command.Event{nil, {}}, map[string]float64{"a": 0}},
		{"one", [][]command.Event{evs("a")}, map[string]float64{"a": 1, "b": 0}},
		{"runs and returns", [][]command.Event{evs("a", "a", "b", "a", "c", "b")}, map[string]float64{"a": 3, "b": 2, "c": 1}},
		{"alternating mail batch", [][]command.Event{evs(many...)}, map[string]float64{"contact.queued": 1000, "mail.received": 1000}},
		{"across commands", [][]command.Event{evs("a", "b"), evs("b"), evs("a", "a")}, map[string]float64{"a": 3, "b": 2}},
		{"many types", [][]command.Event{evs(distinct...)}, map[string]float64{"a": 1, "m": 1, "t": 1, "x": 20}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &EventCounter{}
			for _, b := range tc.batches {
				c.Publish(b)
			}
			for typ, want := range tc.want {
				var m dto.Metric
				if err := c.vec.WithLabelValues(typ).Write(&m); err != nil {
					t.Fatalf("reading the counter of %s: %v", typ, err)
				}
				if got := m.GetCounter().GetValue(); got != want {
					t.Errorf("%s: %v, want %v", typ, got, want)
				}
			}
		})
	}
}

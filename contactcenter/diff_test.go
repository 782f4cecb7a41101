package contactcenter

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
)

// diffKindSorted is diffKind as it was before it sorted only the changes:
// every key of next in order, then every key of old. The reference for
// TestDiffKindOrder.
func diffKindSorted[V any](r *ApplyResult, em eventSink, kind string, old, next map[string]V) []string {
	keys := func(m map[string]V) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	var changed []string
	for _, k := range keys(next) {
		o, had := old[k]
		switch {
		case !had:
			r.Created++
			em.Emit("config."+kind+".created", next[k])
			changed = append(changed, k)
		case !reflect.DeepEqual(o, next[k]):
			r.Updated++
			em.Emit("config."+kind+".updated", next[k])
			changed = append(changed, k)
		default:
			r.Unchanged++
		}
	}
	for _, k := range keys(old) {
		if _, ok := next[k]; !ok {
			r.Removed++
			em.Emit("config."+kind+".removed", map[string]string{"id": k})
			changed = append(changed, k)
		}
	}
	return sortedUnique(changed)
}

// TestDiffKindOrder: on random pairs of configurations (entities kept,
// changed, created and removed, skills maps included) diffKind emits the
// events of the reference, in the same order, with the same counts and
// the same keys changed.
func TestDiffKindOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	queue := func(id string) Queue {
		q := Queue{ID: id, Strategy: Strategies[rng.IntN(len(Strategies))], ServiceLevelSeconds: 10 * rng.IntN(3)}
		if rng.IntN(3) == 0 {
			q.Skills = map[string]int{"english": 1 + rng.IntN(2)}
		}
		return q
	}
	for round := range 500 {
		old, next := map[string]Queue{}, map[string]Queue{}
		for range rng.IntN(40) {
			id := fmt.Sprintf("q%d", rng.IntN(60))
			old[id] = queue(id)
		}
		for id, q := range old {
			switch rng.IntN(4) {
			case 0: // removed
			case 1:
				next[id] = queue(id) // perhaps changed
			default:
				next[id] = q
			}
		}
		for range rng.IntN(5) {
			id := fmt.Sprintf("n%d", rng.IntN(20))
			next[id] = queue(id)
		}
		var want, got recordSink
		var rw, rg ApplyResult
		wk := diffKindSorted(&rw, &want, "queue", old, next)
		gk := diffKind(&rg, &got, "queue", old, next, nil)
		if rw != rg || !reflect.DeepEqual(want.events, got.events) || !reflect.DeepEqual(wk, gk) {
			t.Fatalf("round %d:\nreference %+v %q %q\ndiffKind  %+v %q %q", round, rw, wk, want.events, rg, gk, got.events)
		}
	}
}

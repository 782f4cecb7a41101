package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// echoMachine answers a command with its payload, and refuses the
// payload "no" naming the field "word".
type echoMachine struct{}

func (echoMachine) Families() []string          { return []string{"echo"} }
func (echoMachine) Section() (string, int, int) { return "echo", 1, 1 }
func (echoMachine) Apply(env command.Envelope, _ *command.Emitter) (any, error) {
	var s string
	if err := json.Unmarshal(env.Payload, &s); err != nil {
		return nil, err
	}
	if s == "no" {
		return nil, &Refusal{Msg: "word: no is refused", Field: "word"}
	}
	return s, nil
}
func (echoMachine) Snapshot() ([]byte, error) { return []byte("{}"), nil }
func (echoMachine) Restore([]byte) error      { return nil }

// forwardNode is an in-process member serving its peer protocol over
// HTTP, counting the forwarding requests it receives; noBatch makes it
// answer apply-batch as a member of an earlier version would (404).
type forwardNode struct {
	st      *Store
	handler atomic.Value
	batches atomic.Int64
	singles atomic.Int64
	noBatch bool
}

func startForwardCluster(t *testing.T, noBatch bool) []*forwardNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := make([]*forwardNode, 3)
	var first string
	for i := range nodes {
		n := &forwardNode{noBatch: noBatch}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/v1/internal/apply-batch":
				n.batches.Add(1)
				if n.noBatch {
					http.NotFound(w, r)
					return
				}
			case "/v1/internal/apply":
				n.singles.Add(1)
			}
			if h, ok := n.handler.Load().(http.Handler); ok {
				h.ServeHTTP(w, r)
				return
			}
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}))
		t.Cleanup(srv.Close)
		cfg := Config{
			NodeID: fmt.Sprintf("n%d", i+1), RaftAddr: freeRaftAddr(t), AdminURL: srv.URL, DataDir: t.TempDir(),
			Token: "t", Machines: []Machine{echoMachine{}}, Logger: slog.New(slog.DiscardHandler),
		}
		if i == 0 {
			first = srv.URL
		} else {
			cfg.Join = first
		}
		st, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		n.st = st
		n.handler.Store(st.PeerHandler())
		t.Cleanup(func() {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st.Close(cctx)
		})
		if i == 0 {
			waitLeading(t, st, 20*time.Second)
		}
		nodes[i] = n
	}
	waitUntil(t, 20*time.Second, "three voters that agree on a leader", func() (bool, string) {
		seen := ""
		for _, n := range nodes {
			st := n.st.Status()
			seen += fmt.Sprintf("%s: %s leader %q voters %d ready %v; ", st.NodeID, st.Role, st.LeaderID, len(st.Nodes), st.Ready)
			if !st.Ready || len(st.Nodes) != 3 || st.LeaderID != nodes[0].st.LeaderID() {
				return false, seen
			}
		}
		return true, ""
	})
	return nodes
}

// Commands proposed concurrently on followers reach the leader in
// batches, and every caller gets its own command's outcome: its result at
// its own index, a refusal as the same *Refusal (field included), a
// retried key as the first application flagged duplicate. Against a
// leader that does not serve batches (an earlier version) each command
// goes alone, with the same outcomes.
func TestForwardedBatches(t *testing.T) {
	for _, tc := range []struct {
		name    string
		noBatch bool
	}{{"batches", false}, {"leader without batches", true}} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startForwardCluster(t, tc.noBatch)
			var leader *forwardNode
			var followers []*forwardNode
			for _, n := range nodes {
				if n.st.IsLeader() {
					leader = n
				} else {
					followers = append(followers, n)
				}
			}
			if leader == nil || len(followers) != 2 {
				t.Fatalf("no leader among %d nodes", len(nodes))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const n = 120
			type outcome struct {
				res Result
				err error
			}
			got := make([]outcome, n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					word := fmt.Sprintf("w%d", i)
					if i%10 == 3 {
						word = "no"
					}
					var opts []ProposeOption
					if i%10 == 7 {
						opts = append(opts, WithKey(fmt.Sprintf("key-%d", i/20))) // i = 7 and 17 share a key, …
					}
					got[i].res, got[i].err = followers[i%2].st.Propose(ctx, "echo.say", word, opts...)
				}()
			}
			wg.Wait()

			indexes := map[uint64]int{}
			for i, o := range got {
				switch {
				case i%10 == 3:
					var r *Refusal
					if !errors.As(o.err, &r) || r.Field != "word" || !strings.Contains(r.Msg, "no is refused") {
						t.Errorf("command %d: %v, want the refusal naming field word", i, o.err)
					}
				case o.err != nil:
					t.Errorf("command %d: %v", i, o.err)
				case i%10 == 7:
					// Two commands under one key: one applied, the other
					// answered with its result (the word of whichever
					// came first), flagged duplicate.
					partner := i + 10 // 7 and 17, 27 and 37, …
					if (i/10)%2 == 1 {
						partner = i - 10
					}
					if w := string(o.res.Result); w != fmt.Sprintf("%q", fmt.Sprintf("w%d", i)) && w != fmt.Sprintf("%q", fmt.Sprintf("w%d", partner)) {
						t.Errorf("command %d under a shared key: result %s", i, o.res.Result)
					}
				default:
					if want := fmt.Sprintf("%q", fmt.Sprintf("w%d", i)); string(o.res.Result) != want || o.res.Duplicate {
						t.Errorf("command %d: result %s (duplicate %v), want %s", i, o.res.Result, o.res.Duplicate, want)
					}
					if j, seen := indexes[o.res.Index]; seen {
						t.Errorf("commands %d and %d both at index %d", j, i, o.res.Index)
					}
					indexes[o.res.Index] = i
				}
			}
			dups := 0
			for i := 7; i < n; i += 10 {
				if got[i].err == nil && got[i].res.Duplicate {
					dups++
				}
			}
			if dups != n/20 {
				t.Errorf("%d commands flagged duplicate, want one a shared key: %d", dups, n/20)
			}
			b, s := leader.batches.Load(), leader.singles.Load()
			switch {
			case !tc.noBatch && (b == 0 || s != 0):
				t.Errorf("the leader got %d batches and %d single commands; want batches only", b, s)
			case tc.noBatch && s < n:
				t.Errorf("the leader got %d single commands, want all %d", s, n)
			}
			t.Logf("%d commands forwarded in %d batches, %d alone", n, b, s)
		})
	}
}

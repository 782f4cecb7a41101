package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/dovecottest"
)

// pipeStore fails the first mail.received_batch once the second has been
// proposed behind it (cluster.WithEnqueued): without applying it (the
// leader lost its log's tail) or after applying it (the answer lost).
type pipeStore struct {
	*engineStore
	applyFirst bool
	mu         sync.Mutex
	batches    int
	second     chan struct{} // closed when the second batch is proposed
	firstDone  chan struct{} // closed when the first has failed
	pipelined  bool          // the second came while the first was in flight
}

func (p *pipeStore) Propose(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error) {
	if typ != cc.TypeMailReceivedBatch {
		return p.engineStore.Propose(ctx, typ, payload, opts...)
	}
	p.mu.Lock()
	p.batches++
	n := p.batches
	p.mu.Unlock()
	if fn := cluster.EnqueuedOf(opts...); fn != nil {
		fn()
	}
	switch n {
	case 1:
		defer close(p.firstDone)
		select {
		case <-p.second:
			p.mu.Lock()
			p.pipelined = true
			p.mu.Unlock()
		case <-time.After(5 * time.Second):
			return cluster.Result{}, errors.New("no second batch while the first was in flight")
		}
		if p.applyFirst {
			if _, err := p.engineStore.Propose(ctx, typ, payload, opts...); err != nil {
				return cluster.Result{}, err
			}
		}
		return cluster.Result{}, errors.New("leadership lost")
	case 2:
		close(p.second)
		<-p.firstDone // applied, if at all, after the first
	}
	return p.engineStore.Propose(ctx, typ, payload, opts...)
}

// Batches are proposed while the one before commits; when the one before
// fails — not applied, or applied with its answer lost — the one behind
// it either applies in turn or is refused as out of turn, and the next
// pass reads again from what was recorded: every message one contact,
// none lost.
func TestChannelPipelinedCommitFails(t *testing.T) {
	for _, applyFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("first applied %v", applyFirst), func(t *testing.T) {
			srv := dovecottest.Start(t, dovecottest.Options{})
			const total = 2*FetchBatch + 100
			var msgs [][]byte
			for i := range total {
				msgs = append(msgs, testMessage("support@example.org", fmt.Sprintf("m%d", i)))
			}
			if _, err := srv.AppendMany("INBOX", msgs); err != nil {
				t.Fatal(err)
			}
			st := &pipeStore{engineStore: newEngineStore(t, mailConfig(srv, "")), applyFirst: applyFirst,
				second: make(chan struct{}), firstDone: make(chan struct{})}
			ch := &Channel{Store: st, Engine: st.e, Logger: slog.New(slog.DiscardHandler), MinBackoff: 50 * time.Millisecond}
			runChannel(t, ch)
			waitFor(t, "every message recorded", 30*time.Second, func() bool { _, last := st.e.MailView(); return last == total })
			st.mu.Lock()
			pipelined := st.pipelined
			st.mu.Unlock()
			if !pipelined {
				t.Fatal("the second batch was not proposed while the first was in flight")
			}
			got := st.contacts()
			seen := map[string]bool{}
			for _, c := range got {
				if seen[c] {
					t.Fatalf("contact %q twice", c)
				}
				seen[c] = true
			}
			if len(got) != total {
				t.Fatalf("%d contacts of %d messages", len(got), total)
			}
		})
	}
}

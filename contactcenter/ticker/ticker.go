// Package ticker moves the engine's clock: on the leader it proposes a
// clock.tick when the engine's next deadline has passed. It decides
// nothing the engine decides (which timers fire, and how, is Apply's);
// it only says that time has come.
package ticker

import (
	"context"
	"log/slog"
	"time"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// Ticker drives the engine's timers: on the leader it proposes a
// clock.tick as soon as the engine's next deadline (ring timeout, wrap-up,
// auto-return, colour band, secret expiry) has passed. The engine never
// reads a clock; this is the one place its time moves forward without an
// operation. An idle cluster proposes nothing.
type Ticker struct {
	// IsLeader reports whether this node leads now.
	IsLeader func() bool
	// Next returns the engine's next deadline (Unix ns).
	Next func() (int64, bool)
	// Propose commits a command (cluster.Store.Propose).
	Propose func(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error)
	// Now is the wall clock (nil: time.Now).
	Now func() time.Time
	// Every is how often deadlines are checked; 0 = 100 ms, the timers'
	// resolution.
	Every  time.Duration
	Logger *slog.Logger
}

// Run checks deadlines until ctx ends.
func (t *Ticker) Run(ctx context.Context) {
	every := t.Every
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			t.Step(ctx)
		}
	}
}

// Step proposes one tick if this node leads and a deadline is due. It
// reports whether it proposed.
func (t *Ticker) Step(ctx context.Context) bool {
	if !t.IsLeader() {
		return false
	}
	at, ok := t.Next()
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	n := now()
	if !ok || n.UnixNano() < at {
		return false
	}
	// The tick's time is the leader's clock when it appends it: this node's.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := t.Propose(cctx, cc.TypeClockTick, nil)
	cancel()
	if err != nil && ctx.Err() == nil && t.Logger != nil {
		t.Logger.Warn("clock tick failed", "err", err)
	}
	return err == nil
}

package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tandemcc/tandem/replication/buffer"
)

// run is one target's loop: deliver on the leader, track on a follower,
// wait while not active.
func (m *Manager) run(ctx context.Context, name string) {
	t := m.cfg.Targets[name]
	c := m.cons[name]
	failures := 0
	for ctx.Err() == nil {
		ts, _ := m.ctl.State(name)
		m.mu.Lock()
		leader := m.leader
		wake := m.wake
		m.mu.Unlock()

		if ts.State != Active && ts.State != Suspended {
			waitWake(ctx, wake, time.Minute)
			continue
		}
		if !leader {
			m.track(ctx, name, t, c)
			waitWake(ctx, wake, m.cfg.TrackEvery)
			continue
		}
		if ts.State == Suspended {
			waitWake(ctx, wake, time.Minute)
			continue
		}
		// A rate limit also bounds the batch, so that a limited resume
		// delivers steadily rather than in bursts of a full batch.
		batch := m.cfg.BatchSize
		if ts.Rate > 0 && ts.Rate < batch {
			batch = ts.Rate
		}
		evs, err := c.Read(batch)
		switch {
		case errors.Is(err, buffer.ErrGap) && len(evs) == 0:
			// What the buffer lacks may be in the target already (another
			// leader delivered it while this node's replication was
			// stopped): only a gap the target does not cover is lost.
			skipped, serr := m.skipDelivered(ctx, name, t, c)
			if serr != nil {
				m.fail(name, serr, &failures)
				waitWake(ctx, wake, backoff(failures))
				continue
			}
			if skipped {
				continue
			}
			m.mu.Lock()
			tc := m.autoStopLocked(name, m.gapReason(), false)
			m.mu.Unlock()
			if _, err := m.commit(ctx, TypeAutoStop, tc); err != nil {
				m.fail(name, fmt.Errorf("committing the auto-stop at a gap: %w", err), &failures)
				waitWake(ctx, wake, backoff(failures))
				continue
			}
			m.log.Error("replication auto-stopped; shut down and restart it by hand after fixing the cause",
				"target", name, "reason", tc.Reason)
			continue
		case errors.Is(err, buffer.ErrDetached), errors.Is(err, buffer.ErrClosed):
			waitWake(ctx, wake, time.Second)
			continue
		case err != nil && !errors.Is(err, buffer.ErrGap):
			m.fail(name, err, &failures)
			waitWake(ctx, wake, backoff(failures))
			continue
		}
		if len(evs) == 0 {
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			c.Wait(wctx)
			cancel()
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		pos, err := t.Deliver(dctx, evs)
		cancel()
		if err != nil {
			m.fail(name, err, &failures)
			waitWake(ctx, wake, backoff(failures))
			continue
		}
		if err := c.Ack(pos); err != nil {
			m.fail(name, err, &failures)
			waitWake(ctx, wake, backoff(failures))
			continue
		}
		if failures > 0 {
			m.log.Info("replication delivering again", "target", name, "position", pos)
		}
		failures = 0
		m.mu.Lock()
		m.delivered[name] = pos
		delete(m.lastErr, name)
		m.mu.Unlock()
		if ts.Rate > 0 {
			waitWake(ctx, wake, time.Duration(len(evs))*time.Second/time.Duration(ts.Rate))
		}
	}
}

// skipDelivered moves the cursor to the target's delivery position when
// that is ahead of it, and reports whether it moved.
func (m *Manager) skipDelivered(ctx context.Context, name string, t Target, c *buffer.Consumer) (bool, error) {
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pos, err := t.LastDelivered(tctx)
	if err != nil {
		return false, err
	}
	if !pos.After(c.Cursor()) {
		return false, nil
	}
	if err := c.Ack(pos); err != nil {
		return false, err
	}
	m.log.Info("replication skipped buffer data the target already holds", "target", name, "position", pos)
	m.mu.Lock()
	m.delivered[name] = pos
	m.mu.Unlock()
	return true, nil
}

// track releases on a follower what the leader has delivered.
func (m *Manager) track(ctx context.Context, name string, t Target, c *buffer.Consumer) {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pos, err := t.LastDelivered(tctx)
	if err != nil {
		m.mu.Lock()
		m.lastErr[name] = err.Error()
		m.mu.Unlock()
		return
	}
	if pos.After(c.Cursor()) {
		if err := c.Ack(pos); err != nil && !errors.Is(err, buffer.ErrDetached) {
			m.log.Warn("releasing delivered events", "target", name, "err", err)
		}
	}
	m.mu.Lock()
	m.delivered[name] = pos
	delete(m.lastErr, name)
	m.mu.Unlock()
}

// fail records a delivery failure, logging the first and then every 10th.
func (m *Manager) fail(name string, err error, failures *int) {
	*failures++
	m.mu.Lock()
	m.lastErr[name] = err.Error()
	m.mu.Unlock()
	if *failures == 1 || *failures%10 == 0 {
		m.log.Error("replication delivery failed; the buffer keeps the data", "target", name,
			"err", err, "attempts", *failures)
	}
}

func backoff(failures int) time.Duration {
	d := time.Duration(failures) * 200 * time.Millisecond
	return min(d, 5*time.Second)
}

func waitWake(ctx context.Context, wake <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-wake:
	case <-t.C:
	}
}

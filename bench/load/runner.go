package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Op performs one operation. worker is the worker's index in
// [0, concurrency); seq is a process-wide, increasing operation number
// (starting at 1) that targets use to spread keys.
type Op func(ctx context.Context, worker int, seq uint64) error

// RunConfig bounds one load run.
type RunConfig struct {
	Concurrency int
	// Duration bounds the measured phase in time: no operation is started
	// after it has elapsed (operations in flight are allowed to finish).
	Duration time.Duration
	// Ops, when > 0, bounds the measured phase in count (attempts, successful
	// or not). Whichever of Ops and Duration is reached first ends the phase.
	Ops uint64
	// Warmup is run before the measured phase and is not recorded.
	Warmup time.Duration
	// OpTimeout bounds every single operation.
	OpTimeout time.Duration
	// ErrorBackoff is slept by a worker after a failed operation so a dead
	// target does not turn into a busy loop.
	ErrorBackoff time.Duration
}

// PhaseResult is what one phase measured.
type PhaseResult struct {
	OK      uint64
	Errors  uint64
	Elapsed time.Duration
	Hist    *Histogram
	// ErrorSamples holds up to maxErrorSamples distinct error messages.
	ErrorSamples []string
}

const maxErrorSamples = 5

// Run executes the warmup phase (if any) and then the measured phase and
// returns both results. Cancelling ctx stops both early.
func Run(ctx context.Context, cfg RunConfig, op Op) (warm, measured PhaseResult) {
	var seq atomic.Uint64
	if cfg.Warmup > 0 {
		warm = runPhase(ctx, cfg, op, cfg.Warmup, 0, &seq)
	}
	measured = runPhase(ctx, cfg, op, cfg.Duration, cfg.Ops, &seq)
	return warm, measured
}

func runPhase(ctx context.Context, cfg RunConfig, op Op, dur time.Duration, limit uint64, seq *atomic.Uint64) PhaseResult {
	conc := cfg.Concurrency
	if conc < 1 {
		conc = 1
	}
	opTimeout := cfg.OpTimeout
	if opTimeout <= 0 {
		opTimeout = 10 * time.Second
	}

	var (
		claimed atomic.Uint64
		wg      sync.WaitGroup
		mu      sync.Mutex
		samples []string
		seen    = map[string]bool{}
	)
	noteErr := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if len(samples) >= maxErrorSamples {
			return
		}
		s := err.Error()
		if !seen[s] {
			seen[s] = true
			samples = append(samples, s)
		}
	}

	hists := make([]*Histogram, conc)
	oks := make([]uint64, conc)
	errs := make([]uint64, conc)

	start := time.Now()
	deadline := start.Add(dur)
	for w := 0; w < conc; w++ {
		hists[w] = NewHistogram()
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			h := hists[w]
			for {
				if ctx.Err() != nil {
					return
				}
				if limit > 0 && claimed.Add(1) > limit {
					return
				}
				t0 := time.Now()
				if dur > 0 && !t0.Before(deadline) {
					return
				}
				n := seq.Add(1)
				octx, cancel := context.WithTimeout(ctx, opTimeout)
				err := op(octx, w, n)
				d := time.Since(t0)
				cancel()
				if err != nil {
					errs[w]++
					noteErr(err)
					if cfg.ErrorBackoff > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(cfg.ErrorBackoff):
						}
					}
					continue
				}
				oks[w]++
				h.Record(d)
			}
		}(w)
	}
	wg.Wait()

	res := PhaseResult{Elapsed: time.Since(start), Hist: NewHistogram(), ErrorSamples: samples}
	for w := 0; w < conc; w++ {
		res.OK += oks[w]
		res.Errors += errs[w]
		res.Hist.Merge(hists[w])
	}
	return res
}

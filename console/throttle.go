package console

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/tandemcc/tandem/internal/apierr"
)

// Log-in floods (issue 12.3). A password check costs a PBKDF2 derivation
// (600,000 rounds): left alone, 200 parallel wrong log-ins take every core
// and the node stops answering. So every check runs on a small pool
// (half the cores, at least one) with a short queue — a log-in that finds
// the queue full is refused at once — and failures are counted per client
// address and per user: after a few free attempts each further failure
// doubles the delay before that address, or that user, may try again
// (capped). A refused attempt costs no derivation and counts nothing; a
// success clears the address's and the user's counts. The answer is 429
// too_many_requests with Retry-After.
const (
	freeFailures  = 5                // failures before delays start
	firstDelay    = time.Second      // after the first failure beyond them
	maxDelay      = 5 * time.Minute  // the longest delay
	forgetAfter   = 15 * time.Minute // a key without failures for this long is forgotten
	maxKeys       = 100_000          // bound on remembered keys (oldest dropped)
	loginQueueLen = 16               // log-ins in progress: checking, or waiting for the pool
)

// loginThrottle is the pool and the failure counts of one node.
type loginThrottle struct {
	now   func() time.Time
	slots chan struct{} // one per concurrent password check

	mu      sync.Mutex
	keys    map[string]*failures
	waiting int
}

type failures struct {
	n     int
	last  time.Time
	until time.Time // no attempt before this
}

func newLoginThrottle(now func() time.Time) *loginThrottle {
	if now == nil {
		now = time.Now
	}
	return &loginThrottle{now: now, slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)), keys: map[string]*failures{}}
}

// tooMany is the 429 of a refused attempt.
type tooMany struct {
	msg   string
	retry time.Duration
}

func (t *tooMany) Error() string { return t.msg }

// ErrorCode makes it 429 too_many_requests on every surface.
func (t *tooMany) ErrorCode() apierr.Code { return apierr.TooManyRequests }

// RetryAfter is when the client may try again (the Retry-After header).
func (t *tooMany) RetryAfter() time.Duration { return t.retry }

func refuseFor(d time.Duration, why string) error {
	secs := max(1, int(math.Ceil(d.Seconds())))
	return &tooMany{msg: fmt.Sprintf("%s; retry in %d s", why, secs), retry: time.Duration(secs) * time.Second}
}

// check refuses when any key is in its delay.
func (t *loginThrottle) check(keys ...string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		if f := t.keys[k]; f != nil && now.Before(f.until) {
			wait = max(wait, f.until.Sub(now))
		}
	}
	if wait > 0 {
		return refuseFor(wait, "too many failed log-ins")
	}
	return nil
}

// run runs the password check fn on the pool, after check, waiting in
// the bounded queue; it refuses when the queue is full or a key entered
// its delay while waiting.
func (t *loginThrottle) run(ctx context.Context, fn func() error, keys ...string) error {
	if err := t.check(keys...); err != nil {
		return err
	}
	t.mu.Lock()
	if t.waiting >= loginQueueLen {
		t.mu.Unlock()
		return refuseFor(time.Second, "too many log-ins in progress")
	}
	t.waiting++
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.waiting--
		t.mu.Unlock()
	}()
	select {
	case t.slots <- struct{}{}:
	case <-ctx.Done():
		return apierr.Wrap(apierr.Canceled, ctx.Err())
	}
	defer func() { <-t.slots }()
	if err := t.check(keys...); err != nil {
		return err // another attempt failed while this one waited
	}
	err := fn()
	if err != nil {
		t.failed(keys...)
	} else {
		t.succeeded(keys...)
	}
	return err
}

func (t *loginThrottle) failed(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		f := t.keys[k]
		if f == nil {
			if len(t.keys) >= maxKeys {
				t.forgetLocked(now)
			}
			f = &failures{}
			t.keys[k] = f
		}
		f.n++
		f.last = now
		if beyond := f.n - freeFailures; beyond > 0 {
			d := maxDelay
			if beyond < 20 {
				d = min(maxDelay, firstDelay<<(beyond-1))
			}
			f.until = now.Add(d)
		}
	}
}

func (t *loginThrottle) succeeded(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.keys, k)
	}
}

// forgetLocked drops keys idle for forgetAfter, or, when none is, the
// oldest one.
func (t *loginThrottle) forgetLocked(now time.Time) {
	var oldest string
	for k, f := range t.keys {
		if now.Sub(f.last) >= forgetAfter && now.After(f.until) {
			delete(t.keys, k)
			continue
		}
		if oldest == "" || f.last.Before(t.keys[oldest].last) {
			oldest = k
		}
	}
	if len(t.keys) >= maxKeys && oldest != "" {
		delete(t.keys, oldest)
	}
}

// throttleKeys are the keys of a log-in: the client address and the user.
func throttleKeys(from, user string) []string {
	return []string{"addr " + from, fmt.Sprintf("user %q", user)}
}

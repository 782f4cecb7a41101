package console

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemcc/tandem/internal/apierr"
)

func TestLoginThrottleDelays(t *testing.T) {
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	th := newLoginThrottle(func() time.Time { return now })
	ctx := context.Background()
	wrong := func() error { return errors.New("wrong user or password") }
	ran := 0
	attempt := func(from, user string) error {
		return th.run(ctx, func() error { ran++; return wrong() }, throttleKeys(from, user)...)
	}
	for i := 0; i < freeFailures+1; i++ {
		if err := attempt("10.0.0.1", "ann"); err == nil || apierr.From(err).Code == apierr.TooManyRequests {
			t.Fatalf("attempt %d: %v, want the check's own failure", i+1, err)
		}
	}
	// The sixth failure started a 1 s delay: the next attempt is refused
	// without a password check, for the address and for the user alike.
	before := ran
	for _, a := range []struct{ from, user string }{{"10.0.0.1", "ben"}, {"10.0.0.2", "ann"}} {
		err := attempt(a.from, a.user)
		var ra interface{ RetryAfter() time.Duration }
		if !errors.As(err, &ra) || ra.RetryAfter() != time.Second || apierr.From(err).Status() != 429 ||
			!strings.Contains(err.Error(), "retry in 1 s") {
			t.Fatalf("%s as %s during the delay: %v", a.from, a.user, err)
		}
	}
	if ran != before {
		t.Fatal("a refused attempt ran a password check")
	}
	if err := attempt("10.0.0.3", "cid"); err == nil || apierr.From(err).Code == apierr.TooManyRequests {
		t.Fatalf("another address for another user was refused: %v", err)
	}
	now = now.Add(time.Second)
	attempt("10.0.0.1", "ann") // the seventh failure: 2 s
	now = now.Add(time.Second)
	if err := attempt("10.0.0.1", "ann"); apierr.From(err).Code != apierr.TooManyRequests {
		t.Fatalf("the delay did not double: %v", err)
	}
	now = now.Add(time.Second)
	if err := th.run(ctx, func() error { return nil }, throttleKeys("10.0.0.1", "ann")...); err != nil {
		t.Fatalf("the right password after the delay: %v", err)
	}
	if err := attempt("10.0.0.1", "ann"); apierr.From(err).Code == apierr.TooManyRequests {
		t.Fatalf("a success did not clear the counts: %v", err)
	}
}

func TestLoginThrottleQueue(t *testing.T) {
	th := newLoginThrottle(nil)
	release := make(chan struct{})
	var wg sync.WaitGroup
	started := make(chan struct{}, loginQueueLen)
	for i := 0; i < loginQueueLen; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			th.run(context.Background(), func() error { started <- struct{}{}; <-release; return nil },
				throttleKeys("10.0.0.9", "u"+string(rune('a'+i)))...)
		}()
	}
	deadline := time.After(5 * time.Second)
	for {
		th.mu.Lock()
		n := th.waiting
		th.mu.Unlock()
		if n == loginQueueLen {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("%d log-ins waiting, want %d", n, loginQueueLen)
		case <-time.After(time.Millisecond):
		}
	}
	err := th.run(context.Background(), func() error { t.Error("ran past a full queue"); return nil }, throttleKeys("10.0.0.8", "z")...)
	if !strings.Contains(err.Error(), "too many log-ins in progress") || apierr.From(err).Status() != 429 {
		t.Fatalf("with the queue full: %v", err)
	}
	close(release)
	wg.Wait()
}

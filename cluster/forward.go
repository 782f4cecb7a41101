package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/apierr"
)

// Forwarding a follower's writes in batches (group commit). Every command
// proposed on a follower goes to the leader; one HTTP request each cost
// both nodes a request's parsing, authentication, syscalls and wake-ups
// per command (a third of the cluster's CPU under the web callback
// benchmark). So a follower sends the commands waiting to be forwarded
// together in one POST /v1/internal/apply-batch: while one batch is in
// flight the next one collects, so a lone command leaves at once and no
// timer delays anything. The leader commits each command of a batch as
// if it had come alone (commitLocal: stamped with its time, appended
// through raft.Apply, which batches them again into one disk write) and
// answers each with its own result or error, in order. Nothing else
// changes: each caller's retry loop (Store.apply) still sees its own
// command's outcome, refusals stay final, retryable errors are retried
// with the same command ID.

// maxForwardBatch bounds the commands of one forwarded batch.
const maxForwardBatch = 256

// applyBatchRequest is the body of POST /v1/internal/apply-batch.
type applyBatchRequest struct {
	Commands []command.Envelope `json:"commands"`
}

// applyBatchItem is the leader's answer for one command: its result, or
// its error in the error shape.
type applyBatchItem struct {
	Result *Result       `json:"result,omitempty"`
	Error  *apierr.Error `json:"error,omitempty"`
}

type applyBatchResponse struct {
	Results []applyBatchItem `json:"results"`
}

// forwarder holds the commands waiting to be forwarded.
type forwarder struct {
	mu      sync.Mutex
	pending []*forwardItem
	sending bool
}

type forwardItem struct {
	env  command.Envelope
	done chan forwardOutcome // buffered: the sender never blocks on it
}

type forwardOutcome struct {
	res Result
	err error
}

// forwardApply sends env to the leader with whatever else is waiting to
// be forwarded, and returns its own outcome.
func (s *Store) forwardApply(ctx context.Context, env command.Envelope) (Result, error) {
	it := &forwardItem{env: env, done: make(chan forwardOutcome, 1)}
	f := &s.fwd
	f.mu.Lock()
	f.pending = append(f.pending, it)
	start := !f.sending
	f.sending = true
	f.mu.Unlock()
	if start {
		go s.sendForwarded()
	}
	select {
	case o := <-it.done:
		return o.res, o.err
	case <-ctx.Done():
		// The batch may still commit it: a retry with the same ID applies
		// once, as when a single forwarded request was abandoned.
		return Result{}, ctx.Err()
	}
}

// sendForwarded sends batches until nothing waits.
func (s *Store) sendForwarded() {
	f := &s.fwd
	for {
		f.mu.Lock()
		n, size := 0, 0
		for n < len(f.pending) && n < maxForwardBatch {
			size += len(f.pending[n].env.Payload)
			if n > 0 && size > command.MaxPayload {
				break // a large command goes in the next batch (or alone)
			}
			n++
		}
		batch := f.pending[:n]
		if len(batch) == 0 {
			f.sending = false
			f.pending = nil
			f.mu.Unlock()
			return
		}
		f.pending = f.pending[len(batch):]
		f.mu.Unlock()
		s.sendBatch(batch)
	}
}

// sendBatch forwards one batch and hands every command its outcome.
func (s *Store) sendBatch(batch []*forwardItem) {
	// Bounded like a single forwarded request (Store.call): each caller
	// gives up at its own deadline anyway.
	ctx, cancel := context.WithTimeout(s.ctxOrBackground(), 10*time.Second)
	defer cancel()
	req := applyBatchRequest{Commands: make([]command.Envelope, len(batch))}
	for i, it := range batch {
		req.Commands[i] = it.env
	}
	var resp applyBatchResponse
	err := s.callLeader(ctx, http.MethodPost, "/v1/internal/apply-batch", req, &resp)
	var whole *Refusal
	if errors.Is(err, errNoPeerRoute) || errors.As(err, &whole) {
		// A leader of an earlier version (404), or one that refused the
		// batch as a whole (it could not read it): a command's refusal
		// comes in its own item, so send each alone and let each be
		// judged on its own.
		s.sendOneByOne(ctx, batch)
		return
	}
	if err == nil && len(resp.Results) != len(batch) {
		err = fmt.Errorf("the leader answered a forwarded batch of %d commands with %d results", len(batch), len(resp.Results))
	}
	for i, it := range batch {
		var o forwardOutcome
		switch {
		case err != nil:
			o.err = err
		case resp.Results[i].Error != nil:
			o.err = peerErr(s.leaderBase(), "/v1/internal/apply-batch", resp.Results[i].Error)
		case resp.Results[i].Result != nil:
			o.res = *resp.Results[i].Result
		default:
			o.err = errors.New("the leader answered a forwarded command with neither result nor error")
		}
		it.done <- o
	}
}

// sendOneByOne forwards each command of batch in a request of its own
// (POST /v1/internal/apply), as members did before batches.
func (s *Store) sendOneByOne(ctx context.Context, batch []*forwardItem) {
	var wg sync.WaitGroup
	for _, it := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var o forwardOutcome
			o.err = s.callLeader(ctx, http.MethodPost, "/v1/internal/apply", it.env, &o.res)
			it.done <- o
		}()
	}
	wg.Wait()
}

// ctxOrBackground is the store's context once open (it ends at Close).
func (s *Store) ctxOrBackground() context.Context {
	if s.ctx != nil {
		return s.ctx
	}
	return context.Background()
}

// leaderBase names the leader in an error message.
func (s *Store) leaderBase() string {
	_, u, err := s.leaderURL()
	if err != nil {
		return "the leader"
	}
	return u
}

// serveApplyBatch is the leader's half: every command committed
// concurrently (raft.Apply batches them), each answered on its own.
func (s *Store) serveApplyBatch(w http.ResponseWriter, r *http.Request) {
	var req applyBatchRequest
	if !decodeBodyMax(w, r, &req, command.MaxPayload+maxForwardBatch*8192) {
		return
	}
	if len(req.Commands) > maxForwardBatch {
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "a forwarded batch holds at most %d commands, not %d", maxForwardBatch, len(req.Commands)))
		return
	}
	if !s.IsLeader() {
		apierr.Write(w, apierr.Errorf(apierr.NotLeader, "not the leader"))
		return
	}
	out := applyBatchResponse{Results: make([]applyBatchItem, len(req.Commands))}
	var wg sync.WaitGroup
	for i, env := range req.Commands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.commitLocal(r.Context(), env)
			if err != nil {
				out.Results[i].Error = apierr.From(classify(err))
				return
			}
			out.Results[i].Result = &res
		}()
	}
	wg.Wait()
	writePeerJSON(w, out)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The Tandem side of the load (bench/raft.sh): each operation commits one
// call.note — the note of a call in conversation, the contact data an
// operator edits — on agent i of N, each of whom Setup gave one call. It
// is a real engine command: checked at the edge, written to the Raft log
// of a majority, applied by the engine (the call's note changes, a
// call.note_updated event goes out) before the answer. Its note is as
// long as makes the command, as written in the Raft log, exactly -payload
// bytes: the etcd side puts values of that size.

const (
	benchQueue = "bench"
	maxNote    = 500 // contactcenter.MaxNoteLen
	noteText   = "Customer asks for a call back about order 4711 and prefers the morning; number confirmed. "
	probeNote  = 50 // note length of the first calibration commit
	maxAgents  = 9999
)

// Fixed-width ids, so that every agent's command has the same size.
func benchAgent(i int) string { return fmt.Sprintf("bench-a%04d", i) }
func benchCall(i int) string  { return fmt.Sprintf("bench-c%04d", i) }

// noteOf is n characters of noteText, repeated.
func noteOf(n int) string {
	return strings.Repeat(noteText, n/len(noteText)+1)[:n]
}

// noteBodies are the CommitPath bodies of call.note on agents 0..agents-1
// with notes of noteLen characters.
func noteBodies(agents, noteLen int) [][]byte {
	note := noteOf(noteLen)
	out := make([][]byte, agents)
	for i := range out {
		out[i] = mustBody("call.note", map[string]string{"agent": benchAgent(i), "call": benchCall(i), "note": note})
	}
	return out
}

// setupDoc is the configuration the call.note load needs: one queue and
// the agents, members of it.
func setupDoc(agents int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "queues:\n  - {id: %s, name: Benchmark, strategy: longest-idle}\nagents:\n", benchQueue)
	for i := 0; i < agents; i++ {
		fmt.Fprintf(&b, "  - {id: %s, name: Benchmark agent %d, queues: [%s]}\n", benchAgent(i), i, benchQueue)
	}
	return b.String()
}

// SetupResult is what setup prints.
type SetupResult struct {
	Leader   string `json:"leader"`
	Agents   int    `json:"agents"`
	Commands int    `json:"commands"` // engine commands committed, the configuration included
	TookMs   int64  `json:"took_ms"`
}

// Setup prepares a fresh cluster for the call.note load through the
// engine's own commands: POST /v1/config with setupDoc, then for each
// agent agent.login twice (disconnected → paused → connected), a
// call.incoming into its personal queue (offered to it at once) and
// call.answer — after which the agent talks on that call.
func Setup(ctx context.Context, client *http.Client, addrs []string, token string, agents int, wait time.Duration) (SetupResult, error) {
	t0 := time.Now()
	res := SetupResult{Agents: agents}
	if agents < 1 || agents > maxAgents {
		return res, fmt.Errorf("-agents: want 1..%d, got %d", maxAgents, agents)
	}
	leader, _, err := findTandemLeader(ctx, client, addrs, token, wait)
	if err != nil {
		return res, err
	}
	res.Leader = leader
	if err := postConfig(ctx, client, leader, token, setupDoc(agents)); err != nil {
		return res, err
	}
	res.Commands = 1
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan int)
	)
	lt := newTandemTarget(client, []string{leader}, token)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				a := benchAgent(i)
				steps := []struct {
					typ     string
					payload any
				}{
					{"agent.login", map[string]string{"agent": a}},
					{"agent.login", map[string]string{"agent": a}},
					{"call.incoming", map[string]string{"call": benchCall(i), "agent": a, "number": fmt.Sprintf("+44161555%04d", i)}},
					{"call.answer", map[string]string{"agent": a}},
				}
				for _, s := range steps {
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					_, err := (&tandemTarget{client: lt.client, urls: lt.urls, token: token,
						bodies: [][]byte{mustBody(s.typ, s.payload)}}).post(cctx, 0)
					cancel()
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("%s for %s: %w", s.typ, a, err)
					}
					if err == nil {
						res.Commands++
					}
					mu.Unlock()
					if err != nil {
						break
					}
				}
			}
		}()
	}
	for i := 0; i < agents; i++ {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	res.TookMs = time.Since(t0).Milliseconds()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return res, firstErr
}

// postConfig applies a configuration document (POST /v1/config).
func postConfig(ctx context.Context, client *http.Client, addr, token, doc string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, normalizeAddr(addr)+"/v1/config", strings.NewReader(doc))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /v1/config: HTTP %d: %s", resp.StatusCode, snippet(body))
	}
	return nil
}

// calibrateNote finds the note length that makes a call.note command
// exactly entry bytes in the Raft log, with two commits of agent 0's note
// on addr: one to learn the command's size around its note, one to check.
func calibrateNote(ctx context.Context, client *http.Client, addr, token string, entry int) (int, error) {
	probe := func(n int) (int, error) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cr, err := newTandemTarget(client, []string{addr}, token, noteBodies(1, n)...).post(cctx, 0)
		if err != nil {
			return 0, fmt.Errorf("committing call.note on %s (did `benchload setup` run on this cluster?): %w", benchAgent(0), err)
		}
		if cr.EntryBytes <= 0 {
			return 0, errors.New("the answer does not say how large the command is (entry_bytes): a tandemd of before issue 11?")
		}
		return cr.EntryBytes, nil
	}
	got, err := probe(probeNote)
	if err != nil {
		return 0, err
	}
	around := got - probeNote
	n := entry - around
	if n < 1 || n > maxNote {
		return 0, fmt.Errorf("-payload %d: a call.note command takes %d to %d bytes in the Raft log (notes of 1 to %d characters)",
			entry, around+1, around+maxNote, maxNote)
	}
	if got, err = probe(n); err != nil {
		return 0, err
	}
	if got != entry {
		return 0, fmt.Errorf("a note of %d characters made a command of %d bytes, want %d", n, got, entry)
	}
	return n, nil
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// webCallbackTarget creates web callbacks through the public API: each
// operation is one POST /api/v1/callbacks with a number no other
// operation of the run uses (so none is a duplicate), answered 201 once
// committed through Raft and applied.
type webCallbackTarget struct {
	client *http.Client
	urls   []string
	queue  string
	run    string // distinguishes the numbers of two runs against one cluster
}

func newWebCallbackTarget(client *http.Client, addrs []string, queue string) *webCallbackTarget {
	t := &webCallbackTarget{client: client, queue: queue}
	for _, a := range addrs {
		t.urls = append(t.urls, a+"/api/v1/callbacks")
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	t.run = fmt.Sprint(int(b[0])<<16 | int(b[1])<<8 | int(b[2]))
	return t
}

// Do posts one callback request and checks the 201 answer.
func (t *webCallbackTarget) Do(ctx context.Context, worker int, seq uint64) error {
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	body, _ := json.Marshal(map[string]any{
		"queue": t.queue, "customer_name": "Bench " + hex.EncodeToString(nonce[:]),
		"phone":    fmt.Sprintf("+1 %s %012d", t.run, seq),
		"priority": 1 + int(seq%100),
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.urls[worker%len(t.urls)], bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST /api/v1/callbacks: HTTP %d: %s", resp.StatusCode, snippet(b))
	}
	return nil
}

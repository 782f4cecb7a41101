package console

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tandemcc/tandem/command"
)

// TestStreamRefusesFuturePositions: a since beyond anything the cluster
// committed answers reset and closes 4000 (after a bounded wait for a
// lagging node), never silence (issue 12.5).
func TestStreamRefusesFuturePositions(t *testing.T) {
	r := newRig(t)
	r.config(`queues: [{id: q1}]`)
	s := r.stream("", "999999999.0")
	m := s.read()
	if m.Type != "reset" || !strings.Contains(m.Message, "beyond the last committed index") {
		t.Fatalf("far-future since: %+v, want reset naming the last committed index", m)
	}
	if err := s.closed(); websocket.CloseStatus(err) != CloseReset {
		t.Fatalf("closed with %v, want %d", err, CloseReset)
	}
	// A position this node holds is followed as ever.
	st := r.store.Status()
	ok := r.stream("", formatPosition(command.EndOf(st.AppliedIndex)))
	r.config(`queues: [{id: q2}]`)
	ok.until("config.queue.created")
}

// TestStreamsCloseOnShutdown: when the node stops, every stream tells its
// console where to resume and closes with 1001 going away, and the hub
// waits for them (issue 12.4, SIGTERM); a stream opened afterwards is
// told the same at once.
func TestStreamsCloseOnShutdown(t *testing.T) {
	r := newRig(t)
	// An event first: until a node's hub has seen one, it starts its
	// history at the index applied when the first stream subscribes, and
	// a command without events (the leader's ticks) applied between the
	// read of the position below and that subscription would answer
	// reset, as it should for a position the hub cannot vouch for.
	r.config(`queues: [{id: q0}]`)
	s := r.stream("", formatPosition(command.EndOf(r.store.Status().AppliedIndex)))
	r.config(`queues: [{id: q1}]`)
	s.until("config.queue.created")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- r.svc.Hub.Shutdown(ctx)
	}()
	m := s.read()
	if m.Type != "resume" || m.Since == "" || !strings.Contains(m.Message, "stopping") {
		t.Fatalf("on shutdown: %+v, want resume with a position", m)
	}
	if err := s.closed(); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("closed with %v, want 1001 going away", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	late := r.stream("", formatPosition(command.EndOf(r.store.Status().AppliedIndex)))
	if m := late.read(); m.Type != "resume" {
		t.Fatalf("a stream opened after shutdown: %+v", m)
	}
	if _, err := r.svc.Hub.Subscribe(command.Position{}); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Subscribe after Shutdown: %v", err)
	}
}

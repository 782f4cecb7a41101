package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/tandemcc/tandem/command"
	cc "github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
)

// Stream messages (server to console), one JSON object per WebSocket text
// message:
//
//	{"type":"hello","node_id":…,"role":…,"leader_id":…,"since":"…"}
//	{"type":"events","events":[{index,seq,type,time,command_id,data}…],"position":"…"}
//	{"type":"position","since":"…"}  nothing to show up to there
//	{"type":"reset","message":…}   then close 4000: reload GET state
//	{"type":"resume","since":"…"}  then close 4001: reconnect from there
//
// A console follows: GET state → connect with since=state.since → apply
// events; after a drop it reconnects (to this or another node) from the
// last position it was given (an events message's position, a position
// message's since), or the last event it applied, so nothing is missed
// or doubled. The stream is filtered per subscriber (filter.go): a
// position covers the events the subscriber does not see, so a console
// that sees little still resumes where its stream stopped.
type streamMsg struct {
	Type     string          `json:"type"`
	NodeID   string          `json:"node_id,omitempty"`
	Role     string          `json:"role,omitempty"`
	LeaderID string          `json:"leader_id,omitempty"`
	Since    string          `json:"since,omitempty"`
	Message  string          `json:"message,omitempty"`
	Events   []command.Event `json:"events,omitempty"`
	Position string          `json:"position,omitempty"`
}

// Close codes of the event stream.
const (
	CloseReset  websocket.StatusCode = 4000 // reload the state
	CloseResume websocket.StatusCode = 4001 // reconnect from the position given
)

const (
	writeTimeout = 10 * time.Second
	pingEvery    = 20 * time.Second
	// positionEvery bounds how long a console's position lags behind
	// events it does not see.
	positionEvery = time.Second
)

func (h *Handler) events(w http.ResponseWriter, r *http.Request, a Actor) {
	if !a.Admin && a.Agent == "" {
		apierr.Write(w, apierr.Errorf(apierr.Forbidden, "the live stream is for operators; user %s is not one", apierr.Quote(a.User)))
		return
	}
	since, err := parsePosition(r.URL.Query().Get("since"))
	if err != nil {
		apierr.Write(w, err)
		return
	}
	// Same origin, or a page served by another member (the cors
	// middleware refused every other origin before this route).
	opts := &websocket.AcceptOptions{}
	if origin, cross := crossOrigin(r); cross && !h.AdminActor && h.memberOrigin(origin) {
		opts.InsecureSkipVerify = true // the origin was checked just now
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept wrote the HTTP error
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context()) // consoles send nothing; pings are answered
	st := h.Service.Store.Status()
	hello := streamMsg{Type: "hello", NodeID: st.NodeID, Role: st.Role, LeaderID: st.LeaderID, Since: formatPosition(since)}
	if err := h.notFuture(r.Context(), since); err != nil {
		send(ctx, c, hello)
		send(ctx, c, streamMsg{Type: "reset", Message: err.Error()})
		c.Close(CloseReset, "reload state")
		return
	}
	sub, err := h.Service.Hub.Subscribe(since)
	if errors.Is(err, ErrShutdown) {
		send(ctx, c, hello)
		send(ctx, c, streamMsg{Type: "resume", Since: formatPosition(since), Message: err.Error()})
		c.Close(websocket.StatusGoingAway, "node stopping")
		return
	}
	if err != nil {
		send(ctx, c, hello)
		send(ctx, c, streamMsg{Type: "reset", Message: err.Error()})
		c.Close(CloseReset, "reload state")
		return
	}
	defer sub.Close()
	if send(ctx, c, hello) != nil {
		return
	}
	go keepAlive(ctx, c)
	h.follow(ctx, c, sub, a, since)
}

// follow sends the subscription's events that a may see. last is the
// position everything up to which was sent or is not for a; a position
// message tells it (at most every positionEvery) when only unseen events
// moved it.
func (h *Handler) follow(ctx context.Context, c *websocket.Conn, sub *Subscription, a Actor, last command.Position) {
	var sc scope
	h.Service.Engine.View(func(st *cc.State) { sc = scopeOf(a, st) })
	var (
		pending bool // last moved past what the console was told
		flushAt time.Time
	)
	for {
		wait, cancel := ctx, context.CancelFunc(func() {})
		if pending {
			wait, cancel = context.WithDeadline(ctx, flushAt)
		}
		evs, err := sub.Next(wait)
		cancel()
		if err != nil && pending && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			evs, err = nil, nil
		}
		switch {
		case errors.Is(err, ErrSlow):
			send(ctx, c, streamMsg{Type: "resume", Since: formatPosition(last), Message: err.Error()})
			c.Close(CloseResume, "resume from the last position")
			return
		case errors.Is(err, ErrGap):
			send(ctx, c, streamMsg{Type: "reset", Message: err.Error()})
			c.Close(CloseReset, "reload state")
			return
		case errors.Is(err, ErrShutdown):
			send(ctx, c, streamMsg{Type: "resume", Since: formatPosition(last), Message: err.Error()})
			c.Close(websocket.StatusGoingAway, "node stopping")
			return
		case err != nil:
			return // the console went away or the node stops
		}
		if len(evs) > 0 {
			if !sc.all && refreshes(evs) {
				h.Service.Engine.View(func(st *cc.State) { sc = scopeOf(a, st) })
			}
			last = evs[len(evs)-1].Pos()
			if shown := sc.filter(evs); len(shown) > 0 {
				if send(ctx, c, streamMsg{Type: "events", Events: shown, Position: formatPosition(last)}) != nil {
					return
				}
				pending = false
				continue
			}
			if !pending {
				pending, flushAt = true, time.Now().Add(positionEvery)
			}
		}
		if pending && !time.Now().Before(flushAt) {
			if send(ctx, c, streamMsg{Type: "position", Since: formatPosition(last)}) != nil {
				return
			}
			pending = false
		}
	}
}

// futureWait is how long a stream waits for this node to apply a
// position it has not reached (it may lag the member the console left).
const futureWait = 2 * time.Second

// notFuture refuses a since beyond anything this node applies within
// futureWait: a position from the future (another cluster, a wiped
// cluster, a made-up value) answers reset, never silence.
func (h *Handler) notFuture(ctx context.Context, since command.Position) error {
	if since.Index == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, futureWait)
	defer cancel()
	if err := h.Service.Store.WaitApplied(wctx, since.Index); err != nil {
		st := h.Service.Store.Status()
		return fmt.Errorf("position %s is beyond the last committed index %d of this cluster: reload the state",
			formatPosition(since), max(st.CommitIndex, st.AppliedIndex))
	}
	return nil
}

func send(ctx context.Context, c *websocket.Conn, m streamMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, b)
}

func keepAlive(ctx context.Context, c *websocket.Conn) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				c.CloseNow()
				return
			}
		}
	}
}

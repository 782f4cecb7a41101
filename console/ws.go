package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/tandemcc/tandem/command"
)

// Stream messages (server to console), one JSON object per WebSocket text
// message:
//
//	{"type":"hello","node_id":…,"role":…,"leader_id":…,"since":"…"}
//	{"type":"events","events":[{index,seq,type,time,command_id,data}…]}
//	{"type":"reset","message":…}   then close 4000: reload GET state
//	{"type":"resume","since":"…"}  then close 4001: reconnect from there
//
// A console follows: GET state → connect with since=state.since → apply
// events; after a drop it reconnects (to this or another node) with the
// position of the last event it applied, so nothing is missed or doubled.
type streamMsg struct {
	Type     string          `json:"type"`
	NodeID   string          `json:"node_id,omitempty"`
	Role     string          `json:"role,omitempty"`
	LeaderID string          `json:"leader_id,omitempty"`
	Since    string          `json:"since,omitempty"`
	Message  string          `json:"message,omitempty"`
	Events   []command.Event `json:"events,omitempty"`
}

// Close codes of the event stream.
const (
	CloseReset  websocket.StatusCode = 4000 // reload the state
	CloseResume websocket.StatusCode = 4001 // reconnect from the position given
)

const (
	writeTimeout = 10 * time.Second
	pingEvery    = 20 * time.Second
)

func (h *Handler) events(w http.ResponseWriter, r *http.Request, a Actor) {
	if !a.Admin && a.Agent == "" {
		writeError(w, errorf(http.StatusForbidden, "forbidden", "the live stream is for operators; user %q is not one", a.User))
		return
	}
	since, err := parsePosition(r.URL.Query().Get("since"))
	if err != nil {
		writeError(w, err)
		return
	}
	c, err := websocket.Accept(w, r, nil) // same-origin only
	if err != nil {
		return // Accept wrote the HTTP error
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context()) // consoles send nothing; pings are answered
	st := h.Service.Store.Status()
	hello := streamMsg{Type: "hello", NodeID: st.NodeID, Role: st.Role, LeaderID: st.LeaderID, Since: formatPosition(since)}
	sub, err := h.Service.Hub.Subscribe(since)
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
	last := since
	for {
		evs, err := sub.Next(ctx)
		switch {
		case errors.Is(err, ErrSlow):
			send(ctx, c, streamMsg{Type: "resume", Since: formatPosition(last), Message: err.Error()})
			c.Close(CloseResume, "resume from the last position")
			return
		case errors.Is(err, ErrGap):
			send(ctx, c, streamMsg{Type: "reset", Message: err.Error()})
			c.Close(CloseReset, "reload state")
			return
		case err != nil:
			return // the console went away or the node stops
		}
		if send(ctx, c, streamMsg{Type: "events", Events: evs}) != nil {
			return
		}
		last = evs[len(evs)-1].Pos()
	}
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

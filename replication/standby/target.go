package standby

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/replication"
)

// Admin API paths on the standby (routes.go; package ops mounts them).
const (
	PathStatus  = "/v1/standby/status"
	PathApply   = "/v1/standby/apply"
	PathSync    = "/v1/standby/sync"
	PathPromote = "/v1/standby/promote"
)

// Modes of a cluster as Status reports them.
const (
	ModeStandby  = "standby"  // applying a primary's commands, refusing its own
	ModePromoted = "promoted" // was a standby, accepts writes now
	ModePrimary  = "primary"  // never a standby
)

// MaxClockSkew is the largest clock difference Diagnose accepts
// (replication.md, "Diagnostics").
const MaxClockSkew = 2 * time.Second

// Target ships to a standby. It is safe for concurrent use: deliveries and
// syncs are serialised.
type Target struct {
	// URLs are the admin base URLs of standby members, tried in turn
	// (any member forwards to its leader).
	URLs []string
	// Token is the standby's admin bearer token. It is never logged.
	Token string
	// Export returns the primary's engine state (cluster.Store.ExportEngine);
	// nil disables syncs.
	Export func() (cluster.EngineExport, error)
	HTTP   *http.Client
	Now    func() time.Time
	Logger *slog.Logger

	mu    sync.Mutex
	cur   int              // the URL that answered last
	known command.Position // the standby's position, as last reported
}

// Interface checks.
var (
	_ replication.Target      = (*Target)(nil)
	_ replication.AdminSyncer = (*Target)(nil)
)

func (t *Target) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Target) client() *http.Client {
	if t.HTTP != nil {
		return t.HTTP
	}
	return http.DefaultClient
}

func (t *Target) logger() *slog.Logger {
	if t.Logger != nil {
		return t.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Deliver implements replication.Target: it ships the batch's command
// records the standby has not reported applied, and returns the standby's
// position afterwards. Other records (reporting events) are not the
// standby's business: a batch without command records is delivered as is.
func (t *Target) Deliver(ctx context.Context, events []command.Event) (command.Position, error) {
	if len(events) == 0 {
		return command.Position{}, errors.New("standby: empty batch")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	last := events[len(events)-1].Pos()
	var cmds []Shipped
	for i := range events {
		ev := &events[i]
		if !replication.IsCommandRecord(ev) || !ev.Pos().After(t.known) {
			continue
		}
		rec, err := replication.DecodeCommandRecord(ev)
		if err != nil {
			return command.Position{}, fmt.Errorf("standby: %w", err)
		}
		cmds = append(cmds, Shipped{Pos: ev.Pos(), N: rec.N, Env: rec.Env})
	}
	if len(cmds) == 0 {
		return maxPos(last, t.known), nil
	}
	var res Result
	if err := t.call(ctx, http.MethodPost, PathApply, Batch{Commands: cmds, Through: last}, &res); err != nil {
		return command.Position{}, err
	}
	t.known = res.Position
	if res.NeedsSync == "" {
		return res.Position, nil
	}
	if res.Fresh && t.Export != nil {
		// A standby that never received anything is seeded with the
		// whole engine state: nothing of its own can be lost.
		t.logger().Info("standby is empty; shipping the whole engine state first", "standby", t.URLs[t.cur])
		if err := t.syncLocked(ctx, nil); err != nil {
			return command.Position{}, fmt.Errorf("seeding the empty standby: %w", err)
		}
		return t.known, nil
	}
	return command.Position{}, fmt.Errorf("standby needs a sync: %s; run `tandemctl replication sync --target standby --admin`", res.NeedsSync)
}

// LastDelivered implements replication.Target: the standby's position.
func (t *Target) LastDelivered(ctx context.Context) (command.Position, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var st Status
	if err := t.call(ctx, http.MethodGet, PathStatus, nil, &st); err != nil {
		return command.Position{}, err
	}
	if st.Mode == ModePrimary {
		return command.Position{}, fmt.Errorf("standby %s is not a standby (start it with --standby-of)", t.URLs[t.cur])
	}
	if st.Position.After(t.known) {
		t.known = st.Position
	}
	return st.Position, nil
}

// SyncAdmin ships the primary's whole engine state, so that a standby
// that was down longer than the buffer holds (or refused a command) is
// brought level (`tandemctl replication sync --target standby --admin`).
// progress, when set, is told how many bytes of the state were sent.
func (t *Target) SyncAdmin(ctx context.Context, progress func(done, total int64)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.syncLocked(ctx, progress)
}

func (t *Target) syncLocked(ctx context.Context, progress func(done, total int64)) error {
	if t.Export == nil {
		return errors.New("standby sync: this node cannot export its engine state")
	}
	ex, err := t.Export()
	if err != nil {
		return fmt.Errorf("standby sync: %w", err)
	}
	doc, err := json.Marshal(ex)
	if err != nil {
		return fmt.Errorf("standby sync: encoding the engine state: %w", err)
	}
	total := int64(len(doc))
	if progress != nil {
		progress(0, total)
	}
	var res Result
	body := func() io.Reader { return &countingReader{r: bytes.NewReader(doc), total: total, progress: progress} }
	if err := t.callBody(ctx, http.MethodPost, PathSync, body, &res); err != nil {
		return fmt.Errorf("standby sync: %w", err)
	}
	t.known = res.Position
	if res.NeedsSync != "" {
		return fmt.Errorf("standby sync: the standby could not apply the engine state: %s", res.NeedsSync)
	}
	if progress != nil {
		progress(total, total)
	}
	t.logger().Info("standby sync done", "standby", t.URLs[t.cur], "bytes", total,
		"position", res.Position, "message", res.Message)
	return nil
}

type countingReader struct {
	r        io.Reader
	done     int64
	total    int64
	progress func(done, total int64)
}

// Len is what is left to read.
func (c *countingReader) Len() int { return int(c.total - c.done) }

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.done += int64(n)
	if c.progress != nil && n > 0 && c.done < c.total {
		c.progress(c.done, c.total)
	}
	return n, err
}

// call sends a JSON request (in may be nil) and decodes the answer.
func (t *Target) call(ctx context.Context, method, path string, in, out any) error {
	var body func() io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("standby: encoding %s: %w", path, err)
		}
		body = func() io.Reader { return bytes.NewReader(b) }
	}
	return t.callBody(ctx, method, path, body, out)
}

// callBody tries the standby URLs, starting with the one that answered
// last, until one answers. An answer — even a refusal — ends the round;
// only failing to reach a member moves on to the next.
func (t *Target) callBody(ctx context.Context, method, path string, body func() io.Reader, out any) error {
	if len(t.URLs) == 0 {
		return errors.New("standby: no standby address configured")
	}
	var errs []string
	start := t.cur
	for i := range t.URLs {
		k := (start + i) % len(t.URLs)
		err := t.do(ctx, t.URLs[k], method, path, body, out)
		var ae *answerError
		if err == nil || errors.As(err, &ae) || ctx.Err() != nil {
			t.cur = k
			return err
		}
		errs = append(errs, err.Error())
	}
	return fmt.Errorf("standby unreachable: %s", strings.Join(errs, "; "))
}

// answerError is a refusal answered by the standby (HTTP 4xx/5xx with a
// message).
type answerError struct {
	url, msg string
	code     int
}

func (e *answerError) Error() string {
	return fmt.Sprintf("standby %s refused: %s (HTTP %d)", e.url, e.msg, e.code)
}

func (t *Target) do(ctx context.Context, base, method, path string, body func() io.Reader, out any) error {
	var rd io.Reader
	if body != nil {
		rd = body()
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("standby %s: %w", base, err)
	}
	req.Header.Set("Authorization", "Bearer "+t.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if l, ok := rd.(interface{ Len() int }); ok && req.ContentLength == 0 {
		// The length lets the standby's listener allow a large engine
		// state the time it needs (package httpserver).
		req.ContentLength = int64(l.Len())
	}
	resp, err := t.client().Do(req)
	if err != nil {
		return fmt.Errorf("reaching standby %s: %w", base, unwrapURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading answer of standby %s: %w", base, err)
	}
	if resp.StatusCode/100 != 2 {
		ae, _ := apierr.Decode(resp.StatusCode, raw)
		msg := ae.Message
		if resp.StatusCode == http.StatusUnauthorized {
			msg = "the standby does not accept this token (--standby-token must be the standby's admin token)"
		}
		return &answerError{url: base, msg: msg, code: resp.StatusCode}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decoding answer of standby %s: %w", base, err)
	}
	return nil
}

func unwrapURL(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

func maxPos(a, b command.Position) command.Position {
	if b.After(a) {
		return b
	}
	return a
}

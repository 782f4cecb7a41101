package voice

import (
	"context"
	"log/slog"
)

// sipgoLog is the logger handed to sipgo. sipgo logs what it cannot
// parse at error level with the raw message ("data"); here a message it
// dropped is counted (tandem_sip_malformed_total{action="dropped"}), one
// it answered 400 itself likewise ("rejected"), and no raw message is
// ever logged — it may hold credentials' hashes, and anyone can send
// one, so a flood of junk must not become a flood of log lines. sipgo's
// own records go out at debug level.
type sipgoLog struct {
	next slog.Handler
	m    *metrics
}

func (h *sipgoLog) Enabled(ctx context.Context, l slog.Level) bool {
	return true // counting needs every record; Handle filters
}

func (h *sipgoLog) Handle(ctx context.Context, r slog.Record) error {
	if h.m != nil {
		h.count(r)
	}
	if !h.next.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	out := slog.NewRecord(r.Time, slog.LevelDebug, "sipgo: "+r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "data", "req", "msg", "request", "response", "res":
		default:
			out.AddAttrs(a)
		}
		return true
	})
	return h.next.Handle(ctx, out)
}

// count counts the records that say a message was malformed.
func (h *sipgoLog) count(r slog.Record) {
	switch r.Message {
	case "failed to parse":
		h.m.malformed.WithLabelValues("dropped").Inc()
	case "Failed to send stateless 400 for malformed request":
	case "Server tx failed to handle request":
		// makeServerTxKey failed: sipgo answered 400 statelessly.
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "error" {
				if s := a.Value.String(); len(s) >= 15 && s[:15] == "make key failed" {
					h.m.malformed.WithLabelValues("rejected").Inc()
				}
			}
			return true
		})
	}
}

func (h *sipgoLog) WithAttrs(as []slog.Attr) slog.Handler {
	var keep []slog.Attr
	for _, a := range as {
		if a.Key != "data" {
			keep = append(keep, a)
		}
	}
	return &sipgoLog{next: h.next.WithAttrs(keep), m: h.m}
}

func (h *sipgoLog) WithGroup(name string) slog.Handler {
	return &sipgoLog{next: h.next.WithGroup(name), m: h.m}
}

package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// raftLogger carries the Raft library's log (hclog) into the node's
// slog.Logger, so that each output has one format: text on a terminal,
// JSON otherwise, as the node's logger is set up. Raft's levels map onto
// slog's (trace is below debug); its key/value pairs become attributes.
type raftLogger struct {
	log   *slog.Logger
	name  string
	args  []any
	level *atomic.Int32 // an hclog.Level, shared by the loggers With and Named derive
}

// newRaftLogger returns the hclog.Logger of Raft component name.
func newRaftLogger(l *slog.Logger, name string) hclog.Logger {
	lvl := &atomic.Int32{}
	lvl.Store(int32(hclog.Info))
	return &raftLogger{log: l, name: name, level: lvl}
}

var _ hclog.Logger = (*raftLogger)(nil)

const slogTrace = slog.LevelDebug - 4

func toSlog(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slogTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (r *raftLogger) Log(level hclog.Level, msg string, args ...interface{}) {
	if level == hclog.Off || level < hclog.Level(r.level.Load()) {
		return
	}
	all := append([]any{"component", r.name}, r.args...)
	r.log.Log(context.Background(), toSlog(level), msg, append(all, args...)...)
}

func (r *raftLogger) Trace(msg string, args ...interface{}) { r.Log(hclog.Trace, msg, args...) }
func (r *raftLogger) Debug(msg string, args ...interface{}) { r.Log(hclog.Debug, msg, args...) }
func (r *raftLogger) Info(msg string, args ...interface{})  { r.Log(hclog.Info, msg, args...) }
func (r *raftLogger) Warn(msg string, args ...interface{})  { r.Log(hclog.Warn, msg, args...) }
func (r *raftLogger) Error(msg string, args ...interface{}) { r.Log(hclog.Error, msg, args...) }

func (r *raftLogger) IsTrace() bool { return r.enabled(hclog.Trace) }
func (r *raftLogger) IsDebug() bool { return r.enabled(hclog.Debug) }
func (r *raftLogger) IsInfo() bool  { return r.enabled(hclog.Info) }
func (r *raftLogger) IsWarn() bool  { return r.enabled(hclog.Warn) }
func (r *raftLogger) IsError() bool { return r.enabled(hclog.Error) }

func (r *raftLogger) enabled(l hclog.Level) bool {
	return l >= hclog.Level(r.level.Load()) && r.log.Enabled(context.Background(), toSlog(l))
}

func (r *raftLogger) ImpliedArgs() []interface{} { return r.args }

func (r *raftLogger) With(args ...interface{}) hclog.Logger {
	c := *r
	c.args = append(append([]any(nil), r.args...), args...)
	return &c
}

func (r *raftLogger) Name() string { return r.name }

func (r *raftLogger) Named(name string) hclog.Logger {
	c := *r
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (r *raftLogger) ResetNamed(name string) hclog.Logger {
	c := *r
	c.name = name
	return &c
}

func (r *raftLogger) SetLevel(level hclog.Level) { r.level.Store(int32(level)) }
func (r *raftLogger) GetLevel() hclog.Level      { return hclog.Level(r.level.Load()) }

// StandardLogger is a *log.Logger writing through this logger at Info
// (or the level its line starts with, "[WARN] …", as hclog infers).
func (r *raftLogger) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(r.StandardWriter(nil), "", 0)
}

func (r *raftLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer { return lineWriter{r} }

type lineWriter struct{ r *raftLogger }

func (w lineWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := hclog.Info
	for _, l := range []struct {
		tag string
		lvl hclog.Level
	}{{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info}, {"[WARN]", hclog.Warn}, {"[ERR]", hclog.Error}, {"[ERROR]", hclog.Error}} {
		if rest, ok := strings.CutPrefix(line, l.tag); ok {
			level, line = l.lvl, strings.TrimSpace(rest)
			break
		}
	}
	w.r.Log(level, line)
	return len(p), nil
}

// String describes the logger (for %v of a config).
func (r *raftLogger) String() string { return fmt.Sprintf("raft logger %q", r.name) }

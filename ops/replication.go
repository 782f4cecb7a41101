package ops

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/replication"
)

// replicationRoutes adds the replication administration commands
// (replication.md, "Administration commands"):
//
//	GET  /v1/replication/status
//	POST /v1/replication/suspend   {"target"}
//	POST /v1/replication/resume    {"target", "rate"}   rate: events/s, 0 = unlimited
//	POST /v1/replication/stop      {"target"}
//	POST /v1/replication/shutdown
//	POST /v1/replication/restart
//	POST /v1/replication/sync      {"target", "admin", "recent", "all", "continue", "run_for"}
//	GET  /v1/replication/sync?target=T
//
// A refused command answers 409 refused (507 no_space when a write it
// needs found the disk full; package apierr) and changes nothing. A sync
// starts a job on this node and answers at once; GET follows its progress
// (done, total, percent, state).
func (s *Server) replicationRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/replication/status", func(w http.ResponseWriter, r *http.Request) {
		if s.Replication == nil {
			writeJSON(w, http.StatusOK, replication.Status{Targets: map[string]replication.TargetStatus{}})
			return
		}
		writeJSON(w, http.StatusOK, s.Replication.Status())
	})
	type req struct {
		Target string `json:"target"`
		Rate   int    `json:"rate"`
	}
	cmd := func(run func(*http.Request, req) (replication.Result, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var q req
			if r.ContentLength != 0 && !decode(w, r, &q) {
				return
			}
			if s.Replication == nil {
				apierr.Write(w, apierr.Errorf(apierr.Refused, "no replication is configured on this node (start tandemd with --reporting-dsn)"))
				return
			}
			res, err := run(r, q)
			if err != nil {
				apierr.Write(w, err)
				return
			}
			writeJSON(w, http.StatusOK, res)
		}
	}
	needTarget := func(q req) error {
		if q.Target == "" {
			return errNoTarget()
		}
		return nil
	}
	mux.HandleFunc("POST /v1/replication/suspend", cmd(func(r *http.Request, q req) (replication.Result, error) {
		if err := needTarget(q); err != nil {
			return replication.Result{}, err
		}
		return s.Replication.Suspend(r.Context(), q.Target)
	}))
	mux.HandleFunc("POST /v1/replication/resume", cmd(func(r *http.Request, q req) (replication.Result, error) {
		if err := needTarget(q); err != nil {
			return replication.Result{}, err
		}
		return s.Replication.Resume(r.Context(), q.Target, q.Rate)
	}))
	mux.HandleFunc("POST /v1/replication/stop", cmd(func(r *http.Request, q req) (replication.Result, error) {
		if err := needTarget(q); err != nil {
			return replication.Result{}, err
		}
		return s.Replication.Stop(r.Context(), q.Target)
	}))
	mux.HandleFunc("POST /v1/replication/shutdown", cmd(func(r *http.Request, q req) (replication.Result, error) {
		return s.Replication.Shutdown(r.Context())
	}))
	mux.HandleFunc("POST /v1/replication/restart", cmd(func(r *http.Request, q req) (replication.Result, error) {
		return s.Replication.Restart(r.Context())
	}))
	mux.HandleFunc("POST /v1/replication/sync", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			Target   string `json:"target"`
			Admin    bool   `json:"admin"`
			Recent   bool   `json:"recent"`
			All      bool   `json:"all"`
			Continue bool   `json:"continue"`
			RunFor   string `json:"run_for"`
		}
		if r.ContentLength != 0 && !decode(w, r, &q) {
			return
		}
		var runFor time.Duration
		if q.RunFor != "" {
			d, err := time.ParseDuration(q.RunFor)
			if err != nil || d <= 0 {
				apierr.Write(w, apierr.Errorf(apierr.BadRequest, "run_for: %s is not a positive duration such as 2h or 90m", apierr.Quote(q.RunFor)).WithField("run_for"))
				return
			}
			runFor = d
		}
		cmd(func(r *http.Request, _ req) (replication.Result, error) {
			return s.Replication.StartSync(r.Context(), replication.SyncRequest{Target: q.Target, Admin: q.Admin,
				Recent: q.Recent, All: q.All, Continue: q.Continue, RunFor: runFor})
		})(w, withoutBody(r))
	})
	mux.HandleFunc("GET /v1/replication/sync", func(w http.ResponseWriter, r *http.Request) {
		target := r.URL.Query().Get("target")
		if target == "" {
			apierr.Write(w, errNoTarget())
			return
		}
		var p *replication.SyncProgress
		if s.Replication != nil {
			p = s.Replication.SyncStatus(target)
		}
		if p == nil {
			apierr.Write(w, apierr.Errorf(apierr.NotFound, "no sync of %s has run on this node", target))
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
}

// errNoTarget answers a replication command that names no target.
func errNoTarget() *apierr.Error {
	return apierr.Errorf(apierr.BadRequest, "target: required (reporting or standby)").WithField("target")
}

// withoutBody is r with its body already consumed, for a handler that
// decodes nothing more.
func withoutBody(r *http.Request) *http.Request {
	r2 := r.Clone(r.Context())
	r2.ContentLength = 0
	r2.Body = http.NoBody
	return r2
}

// RegisterReplication exports the replication state to /metrics: the
// buffer fill and alarm level, and per target its state and fill.
func RegisterReplication(reg prometheus.Registerer, m *replication.Manager) {
	reg.MustRegister(&replicationCollector{m: m})
}

type replicationCollector struct{ m *replication.Manager }

var (
	replBufferPercent = prometheus.NewDesc("tandem_replication_buffer_percent",
		"Fill of the replication buffer (share held for the target furthest behind).", nil, nil)
	replBufferBytes = prometheus.NewDesc("tandem_replication_buffer_used_bytes",
		"Bytes of the replication buffer some target still needs.", nil, nil)
	replAlarmLevel = prometheus.NewDesc("tandem_replication_alarm_level",
		"Fill alarm level: 0 normal, 1 at 50 %, 2 at 75 %, 3 at 95 %.", nil, nil)
	replTargetState = prometheus.NewDesc("tandem_replication_target_state",
		"1 for the target's current state.", []string{"target", "state"}, nil)
	replTargetPercent = prometheus.NewDesc("tandem_replication_target_buffer_percent",
		"Share of the buffer capacity held for this target.", []string{"target"}, nil)
	replTargetBacklog = prometheus.NewDesc("tandem_replication_target_backlog_events",
		"Events waiting for this target.", []string{"target"}, nil)
)

var replStates = []replication.State{replication.Active, replication.Suspended, replication.Stopped,
	replication.Shutdown, replication.AutoStopped}

func (c *replicationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{replBufferPercent, replBufferBytes, replAlarmLevel,
		replTargetState, replTargetPercent, replTargetBacklog} {
		ch <- d
	}
}

func (c *replicationCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.Status()
	ch <- prometheus.MustNewConstMetric(replBufferPercent, prometheus.GaugeValue, st.BufferPercent)
	ch <- prometheus.MustNewConstMetric(replBufferBytes, prometheus.GaugeValue, float64(st.BufferBytes))
	ch <- prometheus.MustNewConstMetric(replAlarmLevel, prometheus.GaugeValue, float64(replication.LevelOf(st.BufferPercent)))
	for name, t := range st.Targets {
		for _, s := range replStates {
			ch <- prometheus.MustNewConstMetric(replTargetState, prometheus.GaugeValue, b2f(t.State == s), name, string(s))
		}
		ch <- prometheus.MustNewConstMetric(replTargetPercent, prometheus.GaugeValue, t.BufferPercent, name)
		ch <- prometheus.MustNewConstMetric(replTargetBacklog, prometheus.GaugeValue, float64(t.BacklogEvents), name)
	}
}

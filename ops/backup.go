package ops

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemcc/tandem/backup"
	"github.com/tandemcc/tandem/internal/apierr"
)

// backupRoutes adds the backup commands (backup.md):
//
//	GET  /v1/backup/status   the backup section of /v1/status
//	POST /v1/backup/now      {"level": 0|1}: start a backup on this node
//	GET  /v1/backup/job      the running or last backup's progress
//	GET  /v1/backup/list     the backup directory's chains
//	POST /v1/backup/verify   {"id"}: verify one backup
//
// A node without --backup-dir answers 409 refused. A backup while
// another runs is 409 refused; a backup that fails to verify is 409
// refused with what is wrong (one line).
func (s *Server) backupRoutes(mux *http.ServeMux) {
	need := func(w http.ResponseWriter) bool {
		if s.Backup == nil {
			apierr.Write(w, apierr.Errorf(apierr.Refused, "no backup directory is configured on this node (start tandemd with --backup-dir)"))
			return false
		}
		return true
	}
	mux.HandleFunc("GET /v1/backup/status", func(w http.ResponseWriter, r *http.Request) {
		if need(w) {
			writeJSON(w, http.StatusOK, s.Backup.Status())
		}
	})
	mux.HandleFunc("POST /v1/backup/now", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			Level *int `json:"level"`
		}
		if !decode(w, r, &q) || !need(w) {
			return
		}
		if q.Level == nil || (*q.Level != backup.Full && *q.Level != backup.Incremental) {
			apierr.Write(w, apierr.Errorf(apierr.BadRequest, "level: 0 (full) or 1 (incremental)").WithField("level"))
			return
		}
		job, err := s.Backup.Now(*q.Level)
		if errors.Is(err, backup.ErrRunning) {
			apierr.Write(w, apierr.Errorf(apierr.Refused, "%v", err))
			return
		}
		if err != nil {
			apierr.Write(w, err)
			return
		}
		s.logger().Info("backup on demand", "level", *q.Level, "job", job.ID)
		writeJSON(w, http.StatusOK, map[string]any{"message": job.Message, "job": job})
	})
	mux.HandleFunc("GET /v1/backup/job", func(w http.ResponseWriter, r *http.Request) {
		if !need(w) {
			return
		}
		job, ok := s.Backup.Job()
		if !ok {
			apierr.Write(w, apierr.Errorf(apierr.NotFound, "no backup has run on this node since it started"))
			return
		}
		writeJSON(w, http.StatusOK, job)
	})
	mux.HandleFunc("GET /v1/backup/list", func(w http.ResponseWriter, r *http.Request) {
		if !need(w) {
			return
		}
		l, err := s.Backup.List()
		if err != nil {
			apierr.Write(w, err)
			return
		}
		writeJSON(w, http.StatusOK, l)
	})
	mux.HandleFunc("POST /v1/backup/verify", func(w http.ResponseWriter, r *http.Request) {
		var q struct {
			ID string `json:"id"`
		}
		if !decode(w, r, &q) || !need(w) {
			return
		}
		if !backup.ValidID(q.ID) {
			apierr.Write(w, apierr.Errorf(apierr.BadRequest, "id: %s is not a backup ID (see tandemctl backup list)", apierr.Quote(q.ID)).WithField("id"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Minute)
		defer cancel()
		rep, err := s.Backup.Verify(ctx, q.ID)
		if err != nil {
			apierr.Write(w, apierr.Errorf(apierr.Refused, "%v", err))
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
}

// RegisterBackup exports the backup results to /metrics.
func RegisterBackup(reg prometheus.Registerer, m *backup.Manager) {
	reg.MustRegister(&backupCollector{m: m})
}

type backupCollector struct{ m *backup.Manager }

var (
	backupLastTime = prometheus.NewDesc("tandem_backup_last_time_seconds",
		"When the last backup of the level started (Unix time).", []string{"level"}, nil)
	backupLastOK = prometheus.NewDesc("tandem_backup_last_success",
		"1 if the last backup of the level succeeded, 0 if it failed.", []string{"level"}, nil)
	backupLastIndex = prometheus.NewDesc("tandem_backup_last_index",
		"Raft index the last successful backup of the level covers.", []string{"level"}, nil)
	backupLastSize = prometheus.NewDesc("tandem_backup_last_size_bytes",
		"Size on disk of the last successful backup of the level.", []string{"level"}, nil)
	backupLastDuration = prometheus.NewDesc("tandem_backup_last_duration_seconds",
		"How long the last backup of the level took.", []string{"level"}, nil)
	backupRuns = prometheus.NewDesc("tandem_backup_runs_total",
		"Backup runs since start by level and result (ok, failed, skipped).", []string{"level", "result"}, nil)
	backupMissed = prometheus.NewDesc("tandem_backup_missed_total",
		"Scheduled backups missed (node down, clock jump) reported since start.", []string{"level"}, nil)
)

func (c *backupCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{backupLastTime, backupLastOK, backupLastIndex, backupLastSize,
		backupLastDuration, backupRuns, backupMissed} {
		ch <- d
	}
}

func (c *backupCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.Status()
	counts := c.m.Counts()
	for level, last := range map[int]*backup.Result{backup.Full: st.LastFull, backup.Incremental: st.LastIncremental} {
		l := strconv.Itoa(level)
		for res, n := range counts[level] {
			ch <- prometheus.MustNewConstMetric(backupRuns, prometheus.CounterValue, float64(n), l, res)
		}
		ch <- prometheus.MustNewConstMetric(backupMissed, prometheus.CounterValue, float64(c.m.MissedCount(level)), l)
		if last == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(backupLastTime, prometheus.GaugeValue, float64(last.Time.Unix()), l)
		ch <- prometheus.MustNewConstMetric(backupLastOK, prometheus.GaugeValue, b2f(last.Result == backup.ResultOK), l)
		ch <- prometheus.MustNewConstMetric(backupLastDuration, prometheus.GaugeValue, float64(last.DurationMS)/1000, l)
		if last.Result == backup.ResultOK {
			ch <- prometheus.MustNewConstMetric(backupLastIndex, prometheus.GaugeValue, float64(last.Index), l)
			ch <- prometheus.MustNewConstMetric(backupLastSize, prometheus.GaugeValue, float64(last.Size), l)
		}
	}
}

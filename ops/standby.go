package ops

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/replication/standby"
)

// Bounds of standby requests: one shipment carries at most a buffer read
// (a few MiB, one record up to the buffer's record limit); an engine
// state is as large as the engine.
const (
	maxStandbyBatch = 80 << 20
	maxStandbySync  = 2 << 30
)

// standbyRoutes serves the standby replication type (replication.md,
// "standby"; replication/standby/DESIGN.md):
//
//	GET  /v1/standby/status    this cluster's standby mode and position (?hash=true: and the engine's state hash)
//	POST /v1/standby/apply     a shipment of primary commands (cluster.StandbyBatch)
//	POST /v1/standby/sync      a primary's whole engine state (cluster.EngineExport)
//	POST /v1/standby/promote   end standby mode: accept writes, refuse shipments
//
// apply and sync are what a primary's standby target calls; promote is
// `tandemctl standby promote`. A refusal answers 409 refused (package
// apierr).
func (s *Server) standbyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+standby.PathStatus, func(w http.ResponseWriter, r *http.Request) {
		st := s.standbyStatus()
		if r.URL.Query().Get("hash") == "true" && s.Engine != nil {
			st.EngineHash = s.Engine.Hash()
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST "+standby.PathApply, func(w http.ResponseWriter, r *http.Request) {
		var b cluster.StandbyBatch
		dec := json.NewDecoder(io.LimitReader(r.Body, maxStandbyBatch))
		if err := dec.Decode(&b); err != nil {
			apierr.Write(w, apierr.Errorf(apierr.BadRequest, "decoding shipment: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		res, err := s.Store.StandbyApply(ctx, b)
		if err != nil {
			apierr.Write(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST "+standby.PathSync, func(w http.ResponseWriter, r *http.Request) {
		doc, err := io.ReadAll(io.LimitReader(r.Body, maxStandbySync+1))
		if err != nil {
			apierr.Write(w, apierr.Errorf(apierr.BadRequest, "reading engine state: %v", err))
			return
		}
		if len(doc) > maxStandbySync {
			apierr.Write(w, apierr.Errorf(apierr.TooLarge, "engine state larger than %d bytes", maxStandbySync))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
		defer cancel()
		res, err := s.Store.StandbySync(ctx, doc, nil)
		if err != nil {
			apierr.Write(w, err)
			return
		}
		s.logger().Info("standby: engine state of the primary applied", "bytes", len(doc), "position", res.Position, "message", res.Message)
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST "+standby.PathPromote, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		res, err := s.Store.PromoteStandby(ctx)
		if err != nil {
			apierr.Write(w, err)
			return
		}
		s.logger().Warn("standby promoted: this cluster accepts writes", "message", res.Message)
		writeJSON(w, http.StatusOK, res)
	})
}

// standbyStatus is GET /v1/standby/status, also the standby section of
// /v1/status.
func (s *Server) standbyStatus() standby.Status {
	st := standby.StatusOf(s.Store, time.Now())
	if s.StandbyTarget != nil {
		st.Target = s.StandbyTarget.URLs
	}
	return st
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

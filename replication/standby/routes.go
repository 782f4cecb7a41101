package standby

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/internal/apierr"
)

// Bounds of standby requests: one shipment carries at most a buffer read
// (a few MiB, one record up to the buffer's record limit); an engine
// state is as large as the engine.
const (
	maxBatchBody = 80 << 20
	maxSyncBody  = 2 << 30
)

// Handler serves the standby routes of a node's admin API (package ops
// mounts them behind the admin token):
//
//	GET  /v1/standby/status    this cluster's standby mode and position (?hash=true: and the engine's state hash)
//	POST /v1/standby/apply     a shipment of primary commands (Batch)
//	POST /v1/standby/sync      a primary's whole engine state (cluster.EngineExport)
//	POST /v1/standby/promote   end standby mode: accept writes, refuse shipments
//
// apply and sync are what a primary's Target calls; promote is `tandemctl
// standby promote`. A refusal answers 409 refused (package apierr).
type Handler struct {
	Receiver *Receiver
	// Target is where this node ships, if anywhere (shown in the status).
	Target *Target
	// Hash returns the engine's state hash (?hash=true); nil: not offered.
	Hash   func() string
	Now    func() time.Time
	Logger *slog.Logger
}

// Routes adds the standby routes to mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathStatus, func(w http.ResponseWriter, r *http.Request) {
		st := h.Status()
		if r.URL.Query().Get("hash") == "true" && h.Hash != nil {
			st.EngineHash = h.Hash()
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("POST "+PathApply, func(w http.ResponseWriter, r *http.Request) {
		var b Batch
		dec := json.NewDecoder(io.LimitReader(r.Body, maxBatchBody))
		if err := dec.Decode(&b); err != nil {
			apierr.Write(w, apierr.Errorf(apierr.BadRequest, "decoding shipment: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		res, err := h.Receiver.Receive(ctx, b)
		if err != nil {
			apierr.Write(w, err)
			return
		}
		writeJSON(w, res)
	})
	mux.HandleFunc("POST "+PathSync, func(w http.ResponseWriter, r *http.Request) {
		doc, err := io.ReadAll(io.LimitReader(r.Body, maxSyncBody+1))
		if err != nil {
			apierr.Write(w, apierr.Errorf(apierr.BadRequest, "reading engine state: %v", err))
			return
		}
		if len(doc) > maxSyncBody {
			apierr.Write(w, apierr.Errorf(apierr.TooLarge, "engine state larger than %d bytes", maxSyncBody))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Minute)
		defer cancel()
		res, err := h.Receiver.Sync(ctx, doc, nil)
		if err != nil {
			apierr.Write(w, err)
			return
		}
		h.logger().Info("standby: engine state of the primary applied", "bytes", len(doc), "position", res.Position, "message", res.Message)
		writeJSON(w, res)
	})
	mux.HandleFunc("POST "+PathPromote, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		res, err := h.Receiver.Promote(ctx)
		if err != nil {
			apierr.Write(w, err)
			return
		}
		h.logger().Warn("standby promoted: this cluster accepts writes", "message", res.Message)
		writeJSON(w, res)
	})
}

// Status is GET /v1/standby/status, also the standby section of
// /v1/status.
func (h *Handler) Status() Status {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	st := h.Receiver.Status(now())
	if h.Target != nil {
		st.Target = h.Target.URLs
	}
	return st
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Status is a cluster's standby state as GET /v1/standby/status reports
// it, on a standby, a promoted standby or a primary alike.
type Status struct {
	Mode      string           `json:"mode"` // standby, promoted or primary
	Of        string           `json:"of,omitempty"`
	Since     *time.Time       `json:"since,omitempty"`
	Promoted  *time.Time       `json:"promoted,omitempty"`
	Position  command.Position `json:"position"`
	N         uint64           `json:"n"`
	Applied   uint64           `json:"applied"`
	NeedsSync string           `json:"needs_sync,omitempty"`
	Syncs     uint64           `json:"syncs,omitempty"`
	LastSync  *time.Time       `json:"last_sync,omitempty"`
	// LastCommand is the primary's time of the last command applied;
	// LastBatch when the last shipment arrived. LagSeconds is how far
	// the state applied trails now, by the primary's command times
	// (an idle primary also shows as lag: compare LastBatch).
	LastCommand *time.Time `json:"last_command,omitempty"`
	LastBatch   *time.Time `json:"last_batch,omitempty"`
	LagSeconds  float64    `json:"lag_seconds,omitempty"`
	// Target is, on a primary, where its standby replication ships.
	Target []string `json:"target,omitempty"`
	// Time is this node's clock when it answered (for the skew check).
	Time       time.Time `json:"time"`
	NodeID     string    `json:"node_id"`
	EngineHash string    `json:"engine_hash,omitempty"`
	AppliedIdx uint64    `json:"applied_index"`
}

// Status is this cluster's standby status at now, as this node sees it.
func (r *Receiver) Status(now time.Time) Status {
	st := Status{Mode: ModePrimary, Time: now.UTC(), NodeID: r.store.NodeID(), AppliedIdx: r.store.AppliedIndex()}
	sb, ok := r.State()
	if !ok {
		return st
	}
	st.Mode = ModeStandby
	if !sb.Active {
		st.Mode = ModePromoted
		st.Promoted = unixTime(sb.Promoted)
	}
	st.Of, st.Since, st.Position, st.N, st.Applied = sb.Of, unixTime(sb.Since), sb.Position, sb.N, sb.Applied
	st.NeedsSync, st.Syncs, st.LastSync = sb.NeedsSync, sb.Syncs, unixTime(sb.LastSync)
	st.LastCommand, st.LastBatch = unixTime(sb.LastCommandTime), unixTime(sb.LastBatchTime)
	if sb.Active && st.LastCommand != nil {
		st.LagSeconds = max(0, now.Sub(*st.LastCommand).Seconds())
	}
	return st
}

func unixTime(ns int64) *time.Time {
	if ns == 0 {
		return nil
	}
	t := time.Unix(0, ns).UTC()
	return &t
}

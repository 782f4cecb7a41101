// Package ops is the administrators' operations API on --admin-addr
// (interfaces.md, "Admin API"): status, membership, declarative
// configuration, replication routes, health, readiness and Prometheus
// metrics. The cluster's peer protocol under /v1/internal/ is package
// cluster's own handler, and /v1/standby/ package replication/standby's;
// both are mounted here behind the same token.
//
// It is a separate package because it coordinates several subsystems
// (cluster, the engine, replication, and later backup) and belongs to
// none of them. It translates HTTP into calls on those packages and their
// errors into HTTP (through package apierr, the one error shape and
// mapping of every surface); it holds no state of its own and must not
// apply commands except through cluster.Store.
package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tandemcc/tandem/backup"
	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/command"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
	"github.com/tandemcc/tandem/internal/bearer"
	"github.com/tandemcc/tandem/internal/jsonin"
	"github.com/tandemcc/tandem/mail"
	"github.com/tandemcc/tandem/replication"
	"github.com/tandemcc/tandem/replication/standby"
	"github.com/tandemcc/tandem/snmp"
)

// Server is the admin API of one node.
type Server struct {
	Store    *cluster.Store
	Engine   *contactcenter.Engine
	Token    string
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Replication is nil when no replication is configured on the node.
	Replication *replication.Manager
	// Backup is nil when no backup directory is configured on the node.
	Backup *backup.Manager
	// Status adds subsystem sections (replication, backup) to /v1/status.
	Status func(*StatusDoc)
	// Standby serves /v1/standby/… and the standby section of
	// /v1/status (package replication/standby owns both).
	Standby *standby.Handler
	// Console, when set, is the operator console's API (package
	// console) served at /v1/console/ for integrations holding the admin
	// token.
	Console http.Handler
	// BenchAPI serves POST /v1/bench/commit (tandemd --bench-api): a
	// production node has no route that commits arbitrary bytes.
	BenchAPI bool
	// SNMP is the node's SNMP agent, for its counters in /v1/status.
	SNMP *snmp.Agent
	// Mail is the node's e-mail channel, for its section of /v1/status;
	// MailRoutes its routes under /v1/mail/ (package mail).
	Mail       *mail.Channel
	MailRoutes *mail.Handler
}

// StatusDoc is the body of GET /v1/status.
type StatusDoc struct {
	cluster.Status
	Replication map[string]ReplicationTarget `json:"replication"`
	Backup      BackupStatus                 `json:"backup"`
	// Standby is the standby mode (package replication/standby): on a
	// standby, a promoted standby, or a primary that ships to one; absent
	// otherwise.
	Standby *standby.Status `json:"standby,omitempty"`
	// SNMP is the SNMP agent's counters (requests, drops by cause,
	// notifications sent by type: package snmp); its addr is empty when
	// --snmp-addr is.
	SNMP *snmp.Status `json:"snmp,omitempty"`
	// Mail is the e-mail channel (package mail): off, follower, watching
	// or polling, unreachable with the outage's start, failures and last
	// error (never a credential), and its counters.
	Mail *mail.Status `json:"mail,omitempty"`
}

// ReplicationTarget is one replication type's state in /v1/status.
type ReplicationTarget struct {
	State         string  `json:"state"`
	BufferPercent float64 `json:"buffer_percent"`
}

// BackupStatus is the backup section of /v1/status: the last full and
// incremental runs (time, index, size, result), the schedules, a running
// backup (package backup).
type BackupStatus = backup.Status

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.Store.Ready() {
			apierr.Write(w, apierr.Errorf(apierr.Unavailable, "not ready: no leader known or not caught up"))
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))

	api := http.NewServeMux()
	api.HandleFunc("GET /v1/status", s.status)
	api.HandleFunc("POST /v1/cluster/join", s.join)
	api.HandleFunc("POST /v1/cluster/remove", s.remove)
	api.HandleFunc("POST /v1/cluster/transfer-leader", s.transfer)
	api.HandleFunc("POST /v1/cluster/snapshot", s.snapshot)
	api.HandleFunc("POST /v1/config", s.applyConfig)
	api.HandleFunc("GET /v1/config", s.getConfig)
	api.HandleFunc("GET /v1/phones/{extension}/{phone}/provision", s.provision)
	if s.BenchAPI {
		api.HandleFunc("POST /v1/bench/commit", s.benchCommit)
	}
	s.replicationRoutes(api)
	if s.MailRoutes != nil {
		s.MailRoutes.Routes(api)
	}
	s.backupRoutes(api)
	if s.Standby != nil {
		s.Standby.Routes(api)
	}
	if s.Console != nil {
		api.Handle("/v1/console/", http.StripPrefix("/v1/console", s.Console))
	}
	api.Handle("/v1/internal/", s.Store.PeerHandler())
	mux.Handle("/v1/", s.auth(apierr.Mux(api)))
	return apierr.Mux(mux)
}

// auth requires the bearer token (package bearer: the scheme name in any
// case, the token compared in constant time and never logged).
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !bearer.Is(r, s.Token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tandem-admin"`)
			apierr.Write(w, apierr.Errorf(apierr.Unauthorized, "missing or wrong admin token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	doc := StatusDoc{Status: s.Store.Status(), Replication: map[string]ReplicationTarget{}}
	if s.Replication != nil {
		for name, t := range s.Replication.Status().Targets {
			doc.Replication[name] = ReplicationTarget{State: string(t.State), BufferPercent: t.BufferPercent}
		}
	}
	if s.Backup != nil {
		doc.Backup = s.Backup.Status()
	}
	if s.Standby != nil {
		if st := s.Standby.Status(); st.Mode != standby.ModePrimary || len(st.Target) > 0 {
			doc.Standby = &st
		}
	}
	if s.SNMP != nil {
		st := s.SNMP.Status()
		doc.SNMP = &st
	}
	if s.Mail != nil {
		st := s.Mail.Status()
		doc.Mail = &st
	}
	if s.Status != nil {
		s.Status(&doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

// maxRequest bounds the JSON body of a request (a configuration document
// has its own bound, contactcenter.MaxDocumentBytes).
const maxRequest = 1 << 20

// decode reads the request's JSON body into v strictly (jsonin.Decode:
// one object of v's fields, nothing after it); a refusal names the field
// and what it wants, never a Go type.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	switch {
	case err != nil:
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "reading body: %v", err))
		return false
	case len(body) > maxRequest:
		apierr.Write(w, apierr.Errorf(apierr.TooLarge, "request body larger than %d bytes", maxRequest))
		return false
	}
	if err := jsonin.Decode(body, v); err != nil {
		apierr.Write(w, apierr.Wrap(apierr.BadRequest, fmt.Errorf("decoding request: %w", err)))
		return false
	}
	return true
}

// join adds a node: {"id","raft_addr","admin_addr"} adds that node through
// this member; {"addr"} asks this node to join the cluster of the member
// at addr (only a node that holds no cluster state of its own can).
func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	var req struct {
		cluster.JoinRequest
		Addr string `json:"addr"`
	}
	if !decode(w, r, &req) {
		return
	}
	var err error
	if req.Addr != "" {
		err = s.Store.JoinVia(r.Context(), req.Addr)
	} else {
		err = s.Store.Join(r.Context(), req.JoinRequest)
	}
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": "joined"})
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if !decode(w, r, &req) {
		return
	}
	if err := s.Store.Remove(r.Context(), req.ID); err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": "removed", "id": req.ID})
}

func (s *Server) transfer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if !decode(w, r, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	before := s.Store.LeaderID()
	if err := s.Store.TransferLeader(ctx, req.ID); err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": "transferred", "leader_id": s.newLeader(ctx, before, req.ID)})
}

// newLeader waits (bounded by ctx) until this node knows the leader a
// transfer produced: target, or any other than before when target is "".
// The transfer completes on the old leader; a follower answering the
// request learns of the new leader a moment later.
func (s *Server) newLeader(ctx context.Context, before, target string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		l := s.Store.LeaderID()
		if l != "" && (l == target || (target == "" && l != before)) {
			return l
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return l
		}
	}
}

// applyConfig applies a YAML or JSON configuration document. It is parsed
// and validated here, at the edge, so a bad document never reaches the
// log; the engine validates references again when it applies. Parsing is
// bounded (contactcenter.ParseDocument: at most MaxDocumentBytes, no YAML
// aliases, at most MaxDocumentNodes values), so a document costs memory
// in proportion to its text, never to what aliases would expand it to.
func (s *Server) applyConfig(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, contactcenter.MaxDocumentBytes+1))
	if err != nil {
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "reading body: %v", err))
		return
	}
	if len(body) > contactcenter.MaxDocumentBytes {
		apierr.Write(w, apierr.Errorf(apierr.TooLarge, "config larger than %d bytes", contactcenter.MaxDocumentBytes))
		return
	}
	doc, err := contactcenter.ParseDocument(body)
	if err == nil {
		// The zone's rules travel in the command: Apply reads no zone database.
		err = contactcenter.ResolveZones(&doc)
	}
	if err == nil {
		err = doc.Validate()
	}
	if err != nil {
		apierr.Write(w, apierr.Wrap(apierr.BadRequest, err))
		return
	}
	prune := r.URL.Query().Get("prune") == "true"
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	req := contactcenter.ApplyRequest{Document: doc, Prune: prune}
	// A document that changes nothing commits nothing: compared with the
	// cluster's latest configuration (a linearizable read), it is answered
	// as the apply would be, at the index it was compared at.
	if err := s.Store.Read(ctx, cluster.Linearizable); err != nil {
		apierr.Write(w, err)
		return
	}
	var (
		index uint64
		same  contactcenter.ApplyResult
		perr  error
	)
	s.Store.ViewAt(func(i uint64) { index = i; same, perr = s.Engine.Preview(req) })
	if perr != nil {
		apierr.Write(w, perr)
		return
	}
	if !same.Changed() {
		b, _ := json.Marshal(same)
		writeJSON(w, http.StatusOK, cluster.Result{Index: index, Result: b})
		return
	}
	res, err := s.Store.Propose(ctx, contactcenter.TypeConfigApply, req)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	c, err := cluster.RequestConsistency(r)
	if err != nil {
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "%v", err).WithField("consistency"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.Store.Read(ctx, c); err != nil {
		apierr.Write(w, err)
		return
	}
	var doc contactcenter.Document
	s.Engine.View(func(st *contactcenter.State) { doc = st.Config.Document() })
	// The body is a configuration document (apply -f takes it back), so
	// the level is marked in the header only.
	cluster.MarkConsistency(w, c)
	writeJSON(w, http.StatusOK, doc)
}

// benchCommit commits one engine command for measuring the commit path
// (bench/raft.sh, tandemd --bench-api). The body is a JSON object
// (Content-Type application/json) {"type": <engine command type>,
// "payload": {...}}: the payload is checked as every edge checks one
// (contactcenter.CheckPayload: a malformed command never reaches the log)
// and proposed through Store.Propose like any other, so the answer comes
// once a majority has it in its log and the engine has applied it (a
// refusal is answered as on every surface). The answer is {"index": N,
// "entry_bytes": M}, M being the size of the command as written in the
// Raft log (command.Encode of its envelope), so that the other side of a
// comparison can write the same number of bytes.
//
// Any other Content-Type commits the body as the payload of a no-op
// command (cluster.noop: no engine, no event), answered {"index": N}; the
// end-to-end test of reporting replication relies on that to commit
// something that produces no event. bench/raft.sh does not use it.
func (s *Server) benchCommit(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); len(ct) < 16 || ct[:16] != "application/json" {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
		if err != nil {
			apierr.Write(w, apierr.Errorf(apierr.BadRequest, "reading body: %v", err))
			return
		}
		if len(body) > 1<<20 {
			apierr.Write(w, apierr.Errorf(apierr.TooLarge, "body must be at most 1 MiB"))
			return
		}
		res, err := s.Store.Propose(r.Context(), cluster.TypeNoop, body)
		if err != nil {
			apierr.Write(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]uint64{"index": res.Index})
		return
	}
	var req struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	if !decode(w, r, &req) {
		return
	}
	if err := contactcenter.CheckPayload(req.Type, req.Payload); err != nil {
		apierr.Write(w, apierr.Wrap(apierr.BadRequest, err))
		return
	}
	var payload any // none at all (a clock.tick may have none) stays none
	if len(req.Payload) > 0 {
		payload = req.Payload
	}
	// The envelope as Propose builds it: the leader restamps the time and
	// the id is another of the same length, so the size is the same.
	env, err := command.New(req.Type, cluster.NewID(), time.Now(), payload)
	var entry []byte
	if err == nil {
		entry, err = command.Encode(env)
	}
	if err != nil {
		apierr.Write(w, apierr.Wrap(apierr.BadRequest, err))
		return
	}
	res, err := s.Store.Propose(r.Context(), req.Type, payload)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]uint64{"index": res.Index, "entry_bytes": uint64(len(entry))})
}

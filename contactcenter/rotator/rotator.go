// Package rotator gives secure phones their SIP passwords. On the leader
// it asks the engine which secure phones have no password or one due for
// rotation (Engine.SecretsDue, on the schedule of
// settings.phone_secrets), draws a new password from crypto/rand and
// commits it with phone.set_secret. The engine, which draws no random
// numbers, only stores it, keeps the replaced one working for the grace
// period and expires both on its clock.
//
// It owns the randomness and the moment of rotation, nothing else: no
// password is kept here beyond a pending retry, and none is ever logged
// (log lines name the phone and the expiry). It must not read or change
// engine state except through the engine's queries and cluster.Store
// proposals.
package rotator

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"time"

	"github.com/tandemcc/tandem/cluster"
	cc "github.com/tandemcc/tandem/contactcenter"
)

// Engine is what the rotator reads of the engine (*contactcenter.Engine).
type Engine interface {
	SecretsDue(within time.Duration) []cc.PhoneRef
	View(fn func(*cc.State))
}

// MaxPerStep bounds the rotations one Step commits; the next Step goes on
// (a configuration adding thousands of secure phones is provisioned in
// batches, without holding up the rest of the node).
const MaxPerStep = 100

// Rotator provisions and rotates secure phones' passwords on the leader.
type Rotator struct {
	// IsLeader reports whether this node leads now (and may write).
	IsLeader func() bool
	Engine   Engine
	// Propose commits a command (cluster.Store.Propose).
	Propose func(ctx context.Context, typ string, payload any, opts ...cluster.ProposeOption) (cluster.Result, error)
	// Now is the wall clock (nil: time.Now); the leader stamps the
	// command with its own.
	Now func() time.Time
	// Password draws a new password (nil: Password, crypto/rand).
	Password func() string
	// Every is how often due phones are looked for; 0 = 1 s.
	Every  time.Duration
	Logger *slog.Logger

	// pending holds a rotation proposed but not seen applied (a timeout,
	// a leader change): retried with the same idempotency key and
	// payload, so it applies once.
	pending map[string]pending
}

type pending struct {
	key string
	old int64 // the ExpiresAt of the secret it replaces (0: none)
	req cc.SetSecretRequest
	// warned is the error last logged for it: a retry failing the same
	// way (a full disk, no quorum) is not logged every second.
	warned string
}

// Password returns a new SIP password: 26 characters of the base32
// alphabet (A-Z, 2-7) drawn from crypto/rand, 130 bits.
func Password() string { return rand.Text() }

// Run looks for due phones every Every until ctx ends.
func (r *Rotator) Run(ctx context.Context) {
	every := r.Every
	if every <= 0 {
		every = time.Second
	}
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			r.Step(ctx)
		}
	}
}

// Step provisions or rotates the phones due now, at most MaxPerStep, if
// this node leads. It returns how many it committed.
func (r *Rotator) Step(ctx context.Context) int {
	if !r.IsLeader() {
		r.pending = nil // a new leader decides afresh
		return 0
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	n := now()
	var (
		sched cc.PhoneSecretSettings
		clock int64
	)
	r.Engine.View(func(st *cc.State) { sched, clock = st.Config.Settings.PhoneSecrets, st.Clock })
	// SecretsDue measures from the engine's clock, the last command's
	// time, which an idle cluster leaves behind the wall clock.
	horizon := sched.Due()
	if lag := n.UnixNano() - clock; lag > 0 {
		horizon += time.Duration(lag)
	}
	due := r.Engine.SecretsDue(horizon)
	if r.pending == nil {
		r.pending = map[string]pending{}
	}
	keep := map[string]bool{}
	done := 0
	for _, ref := range due {
		if done >= MaxPerStep || ctx.Err() != nil {
			break
		}
		id := ref.Extension + "/" + ref.Phone
		keep[id] = true
		p, ok := r.pending[id]
		if !ok || p.old != ref.ExpiresAt {
			pw := Password
			if r.Password != nil {
				pw = r.Password
			}
			p = pending{key: "rotator:" + cluster.NewID(), old: ref.ExpiresAt,
				req: cc.SetSecretRequest{Extension: ref.Extension, Phone: ref.Phone, Secret: pw(), ExpiresAt: n.Add(sched.Expire()).UTC()}}
			r.pending[id] = p
		}
		if err := r.commit(ctx, p); err != nil {
			if ctx.Err() == nil && err.Error() != p.warned {
				r.logger().Warn("phone password not committed", "extension", p.req.Extension, "phone", p.req.Phone, "err", err)
			}
			p.warned = err.Error()
			r.pending[id] = p
			var refusal *cluster.Refusal
			if errors.As(err, &refusal) {
				// Refused (the phone changed under us, or the expiry is no
				// longer in the future): decide afresh next time.
				delete(r.pending, id)
			}
			continue
		}
		delete(r.pending, id)
		done++
		what := "phone password rotated"
		if p.old == 0 {
			what = "phone password provisioned"
		}
		r.logger().Info(what, "extension", p.req.Extension, "phone", p.req.Phone, "expires_at", p.req.ExpiresAt)
	}
	for id := range r.pending {
		if !keep[id] {
			delete(r.pending, id)
		}
	}
	return done
}

func (r *Rotator) commit(ctx context.Context, p pending) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := r.Propose(cctx, cc.TypePhoneSetSecret, p.req, cluster.WithKey(p.key))
	return err
}

func (r *Rotator) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

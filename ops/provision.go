package ops

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tandemcc/tandem/cluster"
	"github.com/tandemcc/tandem/contactcenter"
	"github.com/tandemcc/tandem/internal/apierr"
)

// provision is GET /v1/phones/{extension}/{phone}/provision (`tandemctl
// phone provision EXTENSION PHONE_ID`): a secure phone's provisioning
// data, its current SIP password included
// (contactcenter.PhoneProvisioning). Administrators only (the admin
// token); the answer is not cached (Cache-Control: no-store) and never
// logged — the audit line names the phone and the caller, not the
// password. 404 for a phone that is not configured, 409 for one that is
// not secure, 503 (retry) while the leader has not given it a password.
// Read at the level of ?consistency= (default linearizable), marked in
// X-Tandem-Consistency.
func (s *Server) provision(w http.ResponseWriter, r *http.Request) {
	c, err := cluster.RequestConsistency(r)
	if err != nil {
		apierr.Write(w, apierr.Errorf(apierr.BadRequest, "%v", err).WithField("consistency"))
		return
	}
	ext, phone := r.PathValue("extension"), r.PathValue("phone")
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.Store.Read(ctx, c); err != nil {
		apierr.Write(w, err)
		return
	}
	p, err := s.Engine.PhoneProvisioning(ext, phone)
	switch {
	case errors.Is(err, contactcenter.ErrUnknownExtension), errors.Is(err, contactcenter.ErrUnknownPhone):
		apierr.Write(w, apierr.Wrap(apierr.NotFound, err))
		return
	case errors.Is(err, contactcenter.ErrNotSecure):
		apierr.Write(w, apierr.Wrap(apierr.Refused, err))
		return
	case errors.Is(err, contactcenter.ErrNoSecret):
		w.Header().Set("Retry-After", "2")
		apierr.Write(w, apierr.Wrap(apierr.Unavailable, err))
		return
	case err != nil:
		apierr.Write(w, err)
		return
	}
	s.logger().Info("phone provisioning data read", "extension", ext, "phone", phone, "remote", r.RemoteAddr)
	w.Header().Set("Cache-Control", "no-store")
	cluster.MarkConsistency(w, c)
	writeJSON(w, http.StatusOK, p)
}

package standby

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Diagnose implements replication.Target: for each standby address it
// checks name resolution, connectivity, credentials, clock skew (at most
// MaxClockSkew) and the standby's mode, one line per check, as the
// numbered diagnostic files record them (replication.md, "Diagnostics").
// The error names the first failed check of the first address that failed
// everywhere; one member passing all checks is enough.
//
// It takes no lock: an administration command is not held up by a
// delivery waiting on an unreachable standby.
func (t *Target) Diagnose(ctx context.Context) (string, error) {
	if len(t.URLs) == 0 {
		return "standby: no address configured\n", errors.New("no standby address configured")
	}
	var b strings.Builder
	var firstErr error
	for _, base := range t.URLs {
		err := t.diagnoseOne(ctx, &b, base)
		if err == nil {
			return b.String(), nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return b.String(), firstErr
}

func (t *Target) diagnoseOne(ctx context.Context, b *strings.Builder, base string) error {
	fmt.Fprintf(b, "standby: %s\n", base)
	line := func(check, status, detail string) { fmt.Fprintf(b, "  %-16s %-4s %s\n", check+":", status, detail) }
	fail := func(check, detail string) error {
		line(check, "FAIL", detail)
		return fmt.Errorf("%s: %s", check, detail)
	}
	u, err := url.Parse(base)
	if err != nil || u.Hostname() == "" {
		return fail("address", fmt.Sprintf("%q is not http://host:port", base))
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		line("name resolution", "ok", "IP address "+host)
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := net.DefaultResolver.LookupHost(rctx, host)
		cancel()
		if err != nil {
			return fail("name resolution", err.Error())
		}
		line("name resolution", "ok", host+" → "+strings.Join(addrs, ", "))
	}

	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, strings.TrimRight(base, "/")+"/healthz", nil)
	if err != nil {
		return fail("connectivity", err.Error())
	}
	start := t.now()
	resp, err := t.client().Do(req)
	if err != nil {
		return fail("connectivity", unwrapURL(err).Error())
	}
	resp.Body.Close()
	line("connectivity", "ok", fmt.Sprintf("GET /healthz: HTTP %d in %v", resp.StatusCode, t.now().Sub(start).Round(time.Millisecond)))

	var st Status
	sent := t.now()
	err = t.do(cctx, base, http.MethodGet, PathStatus, nil, &st)
	got := t.now()
	var ae *answerError
	switch {
	case errors.As(err, &ae) && ae.code == http.StatusUnauthorized:
		return fail("credentials", "the standby refused the token: --standby-token must be the standby's admin token")
	case errors.As(err, &ae) && ae.code == http.StatusNotFound:
		return fail("credentials", "the address answers but serves no standby API (is it a tandemd admin address?)")
	case err != nil:
		return fail("credentials", err.Error())
	}
	line("credentials", "ok", "the standby accepts the token")

	// The standby's clock is compared with the middle of the round trip.
	mid := sent.Add(got.Sub(sent) / 2)
	skew := st.Time.Sub(mid)
	if skew < 0 {
		skew = -skew
	}
	if skew > MaxClockSkew {
		return fail("clock skew", fmt.Sprintf("the standby's clock is %v off this node's (more than %v)", skew.Round(time.Millisecond), MaxClockSkew))
	}
	line("clock skew", "ok", fmt.Sprintf("%v (at most %v)", skew.Round(time.Millisecond), MaxClockSkew))

	switch st.Mode {
	case ModePrimary:
		return fail("mode", fmt.Sprintf("node %s is not a standby (start it with --standby-of)", st.NodeID))
	case ModePromoted:
		return fail("mode", fmt.Sprintf("the standby was promoted at %s and no longer accepts shipped commands", fmtTime(st.Promoted)))
	}
	line("mode", "ok", fmt.Sprintf("standby of %s (node %s)", st.Of, st.NodeID))
	if st.NeedsSync != "" {
		return fail("position", fmt.Sprintf("needs a sync: %s; run `tandemctl replication sync --target standby --admin`", st.NeedsSync))
	}
	line("position", "ok", fmt.Sprintf("primary index %d applied (%d commands, last batch %s)", st.Position.Index, st.N, fmtTime(st.LastBatch)))
	return nil
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

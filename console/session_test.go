package console

import (
	"strings"
	"testing"
	"time"
)

func TestSessions(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	m := NewSessions("cluster-secret-0123456789", time.Hour, clock)
	tok, s := m.Issue(Session{User: "ann", Agent: "a1", Print: "p"})
	if s.Expires != now.Add(time.Hour).Unix() {
		t.Fatalf("expires %d", s.Expires)
	}
	got, err := m.Verify(tok)
	if err != nil || got.User != "ann" || got.Agent != "a1" {
		t.Fatalf("verify: %+v %v", got, err)
	}
	// Another node of the cluster (same secret) accepts it: failover keeps
	// the session.
	if _, err := NewSessions("cluster-secret-0123456789", time.Hour, clock).Verify(tok); err != nil {
		t.Fatalf("other node: %v", err)
	}
	payload, sig, _ := strings.Cut(strings.TrimPrefix(tok, tokenPrefix), ".")
	forged, _ := NewSessions("another-cluster", time.Hour, clock).Issue(Session{User: "ann", Print: "p"})
	for _, tc := range []struct{ name, tok string }{
		{"empty", ""},
		{"other cluster", forged},
		{"no prefix", strings.TrimPrefix(tok, tokenPrefix)},
		{"tampered payload", tokenPrefix + payload + "x." + sig},
		{"tampered signature", tokenPrefix + payload + "." + sig[:len(sig)-2] + "AA"},
		{"no signature", tokenPrefix + payload},
		{"huge", tokenPrefix + strings.Repeat("A", 4096)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Verify(tc.tok); err != ErrSession {
				t.Fatalf("got %v, want ErrSession", err)
			}
		})
	}
	now = now.Add(time.Hour)
	if _, err := m.Verify(tok); err != ErrSession {
		t.Fatalf("expired token: %v", err)
	}
}

package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Sessions issue and check operator session tokens. A token is signed
// with a key derived from the cluster's admin secret, which every member
// shares, so a console that fails over to another node keeps its session.
// Tokens expire; a token also carries a fingerprint of the user's password
// hash, so changing a password ends every session of that user.
type Sessions struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// DefaultSessionTTL is how long a session lasts (a working day and more).
const DefaultSessionTTL = 12 * time.Hour

// ErrSession means a missing, malformed, forged or expired session token.
var ErrSession = errors.New("no valid session: log in again")

// NewSessions derives the signing key from secret (the cluster's admin
// token). ttl 0 means DefaultSessionTTL; now nil means time.Now.
func NewSessions(secret string, ttl time.Duration, now func() time.Time) *Sessions {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	if now == nil {
		now = time.Now
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("tandem ops session v1"))
	return &Sessions{key: m.Sum(nil), ttl: ttl, now: now}
}

// Session is who a token speaks for.
type Session struct {
	User    string `json:"u"`
	Agent   string `json:"a,omitempty"`
	Expires int64  `json:"e"` // Unix seconds
	// Print fingerprints the password hash the session was opened with.
	Print string `json:"p"`
}

const tokenPrefix = "tks1."

// Issue returns a signed token for s, valid for the TTL from now.
func (m *Sessions) Issue(s Session) (string, Session) {
	s.Expires = m.now().Add(m.ttl).Unix()
	body, _ := json.Marshal(s)
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString(body)
	return tokenPrefix + payload + "." + enc.EncodeToString(m.sign(payload)), s
}

func (m *Sessions) sign(payload string) []byte {
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// Verify checks a token's signature and expiry and returns its session.
func (m *Sessions) Verify(tok string) (Session, error) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok || len(tok) > 2048 {
		return Session{}, ErrSession
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return Session{}, ErrSession
	}
	enc := base64.RawURLEncoding
	got, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(got, m.sign(payload)) {
		return Session{}, ErrSession
	}
	body, err := enc.DecodeString(payload)
	if err != nil {
		return Session{}, ErrSession
	}
	var s Session
	if err := json.Unmarshal(body, &s); err != nil || s.User == "" {
		return Session{}, ErrSession
	}
	if m.now().Unix() >= s.Expires {
		return Session{}, ErrSession
	}
	return s, nil
}

// fingerprint identifies a password hash without revealing it.
func fingerprint(hash string) string {
	sum := sha256.Sum256([]byte("tandem password print\x00" + hash))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

package voice

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Digest authentication (RFC 3261 §22, RFC 7616, RFC 8760) built on
// icholy/digest: it formats challenges, parses credentials and computes
// the expected response; this file owns the nonces and the checks.
//
// A nonce is base64url(issued Unix ns ‖ 8 random bytes ‖ HMAC-SHA256 of
// both, truncated to 16 bytes) under a key drawn at start: it is verified
// without state, expires after the nonce lifetime (then the answer is a
// new challenge with stale=true), and dies with the process — a new
// leader challenges again. Replays are refused by the nonce-count table:
// for each nonce in use, the highest nc accepted; a request whose nc is
// not higher is refused. The table is bounded: when full, the entry of
// the oldest nonce is dropped and every nonce issued up to it becomes
// stale (the floor), so a dropped entry can never be replayed.

// DefaultAlgorithms are the digest algorithms challenged, in the order
// of the WWW-Authenticate headers. RFC 8760 §2.4 lists the preferred one
// first and a capable client takes the first it supports; but many
// phones in the field (and sipp 3.6) read only the first challenge and
// know only MD5, so MD5 comes first by default and SHA-256 second. A
// site whose phones all do SHA-256 puts it first, or alone
// (--sip-digest-algorithms).
var DefaultAlgorithms = []string{"MD5", "SHA-256"}

// ParseAlgorithms reads a comma-separated list of digest algorithms (MD5,
// SHA-256; each once, at least one), in the order they are offered.
func ParseAlgorithms(v string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(v, ",") {
		a = strings.ToUpper(strings.TrimSpace(a))
		if a != "MD5" && a != "SHA-256" {
			return nil, fmt.Errorf("%q is not a digest algorithm (MD5, SHA-256)", a)
		}
		for _, b := range out {
			if a == b {
				return nil, fmt.Errorf("%s named twice", a)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

const (
	nonceRawLen = 8 + 8 + 16
	// maxCredentialLen bounds an Authorization header Tandem will parse.
	maxCredentialLen = 2048
)

// authError says why credentials were refused; Stale asks for a new
// challenge with stale=true (the password was not wrong).
type authError struct {
	Reason string // metric label: missing, malformed, stale, replay, wrong, unknown_user, realm, algorithm, qop, uri
	Stale  bool
}

func (e *authError) Error() string { return "digest authentication: " + e.Reason }

// authenticator issues nonces and checks credentials.
type authenticator struct {
	realm    string
	algs     []string // offered, in order
	lifetime time.Duration
	key      [32]byte
	now      func() time.Time

	mu    sync.Mutex
	nc    map[string]ncEntry // nonce → highest nc accepted
	max   int
	floor int64 // nonces issued at or before this time are stale
}

type ncEntry struct {
	nc     uint32
	issued int64
}

func newAuthenticator(realm string, algs []string, lifetime time.Duration, maxNonces int, now func() time.Time) (*authenticator, error) {
	a := &authenticator{realm: realm, algs: algs, lifetime: lifetime, now: now, nc: map[string]ncEntry{}, max: maxNonces}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, fmt.Errorf("drawing the nonce key: %w", err)
	}
	return a, nil
}

// nonce mints a nonce issued now.
func (a *authenticator) nonce() string {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(a.now().UnixNano()))
	rand.Read(raw[8:16])
	m := hmac.New(sha256.New, a.key[:])
	m.Write(raw[:16])
	copy(raw[16:], m.Sum(nil))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// challenges are the WWW-Authenticate values of a 401: one per
// algorithm, most preferred first, sharing one fresh nonce.
func (a *authenticator) challenges(stale bool) []string {
	n := a.nonce()
	out := make([]string, 0, len(a.algs))
	for _, alg := range a.algs {
		c := digest.Challenge{Realm: a.realm, Nonce: n, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		out = append(out, c.String())
	}
	return out
}

// checkNonce verifies the nonce's MAC and age; it returns the issue time.
func (a *authenticator) checkNonce(n string) (int64, error) {
	if len(n) != base64.RawURLEncoding.EncodedLen(nonceRawLen) {
		return 0, &authError{Reason: "malformed"}
	}
	raw, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(raw) != nonceRawLen {
		return 0, &authError{Reason: "malformed"}
	}
	m := hmac.New(sha256.New, a.key[:])
	m.Write(raw[:16])
	if !hmac.Equal(m.Sum(nil)[:16], raw[16:]) {
		// Not ours: another node's (a failover) or forged. Challenge again.
		return 0, &authError{Reason: "stale", Stale: true}
	}
	issued := int64(binary.BigEndian.Uint64(raw[:8]))
	now := a.now().UnixNano()
	if now-issued > int64(a.lifetime) || issued > now+int64(time.Minute) {
		return 0, &authError{Reason: "stale", Stale: true}
	}
	return issued, nil
}

// credential is what verify learnt from valid credentials.
type credential struct {
	User string
}

// verify checks the Authorization header value h of a request (method,
// its request-URI ruri) against the passwords of the user it names. The
// credentials' uri must designate the request-URI's resource (RFC 7616
// §3.4.6, RFC 3261 §22.4): a response computed for another request
// cannot be replayed on this one (reason "uri", answered 400).
// passwords returns the passwords that authenticate user now (none for
// an unknown user). Only after the response matched is the nonce count
// recorded, so a wrong guess cannot burn a phone's counts.
func (a *authenticator) verify(h, method string, ruri sip.Uri, passwords func(user string) []string) (credential, error) {
	if h == "" {
		return credential{}, &authError{Reason: "missing"}
	}
	if len(h) > maxCredentialLen {
		return credential{}, &authError{Reason: "malformed"}
	}
	c, err := digest.ParseCredentials(h)
	if err != nil {
		return credential{}, &authError{Reason: "malformed"}
	}
	if c.Username == "" || c.Nonce == "" || c.URI == "" || c.Response == "" || c.Userhash {
		return credential{}, &authError{Reason: "malformed"}
	}
	if c.Realm != a.realm {
		return credential{}, &authError{Reason: "realm"}
	}
	if !sameResource(c.URI, ruri) {
		return credential{}, &authError{Reason: "uri"}
	}
	alg := strings.ToUpper(c.Algorithm)
	if alg == "" {
		alg = "MD5"
	}
	offered := false
	for _, o := range a.algs {
		offered = offered || o == alg
	}
	if !offered {
		return credential{}, &authError{Reason: "algorithm"}
	}
	// qop=auth only: without qop there is no nonce count to refuse a
	// replay with.
	if c.QOP != "auth" || c.Cnonce == "" || c.Nc <= 0 {
		return credential{}, &authError{Reason: "qop"}
	}
	issued, err := a.checkNonce(c.Nonce)
	if err != nil {
		return credential{}, err
	}
	pw := passwords(c.Username)
	unknown := len(pw) == 0
	if unknown {
		// Cost what a known user costs, and fail.
		pw = []string{"\x00unknown"}
	}
	match := 0
	for _, p := range pw {
		want, err := digest.Digest(&digest.Challenge{Realm: a.realm, Nonce: c.Nonce, Algorithm: alg, QOP: []string{"auth"}},
			digest.Options{Method: method, URI: c.URI, Username: c.Username, Password: p, Count: c.Nc, Cnonce: c.Cnonce})
		if err != nil {
			return credential{}, &authError{Reason: "malformed"}
		}
		match |= subtle.ConstantTimeCompare([]byte(want.Response), []byte(strings.ToLower(c.Response)))
	}
	if unknown {
		return credential{}, &authError{Reason: "unknown_user"}
	}
	if match != 1 {
		return credential{}, &authError{Reason: "wrong"}
	}
	if err := a.count(c.Nonce, uint32(c.Nc), issued); err != nil {
		return credential{}, err
	}
	return credential{User: c.Username}, nil
}

// count records nc for the nonce, refusing one not above the last.
func (a *authenticator) count(nonce string, nc uint32, issued int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if issued <= a.floor {
		return &authError{Reason: "stale", Stale: true}
	}
	e, ok := a.nc[nonce]
	if ok {
		if nc <= e.nc {
			return &authError{Reason: "replay"}
		}
		a.nc[nonce] = ncEntry{nc: nc, issued: issued}
		return nil
	}
	a.prune()
	for len(a.nc) >= a.max {
		a.dropOldest()
	}
	if issued <= a.floor {
		return &authError{Reason: "stale", Stale: true}
	}
	a.nc[nonce] = ncEntry{nc: nc, issued: issued}
	return nil
}

// prune forgets the nonces that expired (they are refused as stale by
// their age anyway).
func (a *authenticator) prune() {
	limit := a.now().UnixNano() - int64(a.lifetime)
	if len(a.nc) < a.max/2 {
		return // cheap while small
	}
	for k, e := range a.nc {
		if e.issued < limit {
			delete(a.nc, k)
		}
	}
}

// dropOldest forgets the oldest nonce and raises the floor to it.
func (a *authenticator) dropOldest() {
	var oldest string
	var at int64
	for k, e := range a.nc {
		if oldest == "" || e.issued < at {
			oldest, at = k, e.issued
		}
	}
	delete(a.nc, oldest)
	if at > a.floor {
		a.floor = at
	}
}

// sameResource reports whether the digest uri v designates the same
// resource as the request-URI ruri (RFC 7616 §3.4.6), compared as RFC
// 3261 §19.1.4 compares SIP URIs: scheme and host case-insensitive, user
// and password exact, ports equal (an absent port is not 5060). A
// parameter carried by both must agree; one carried by only one side is
// let through, because common clients leave the request-URI's
// parameters out of the digest uri (sipgo writes scheme:user@host:port).
func sameResource(v string, ruri sip.Uri) bool {
	var u sip.Uri
	if len(v) > maxCredentialLen || sip.ParseUri(v, &u) != nil {
		return false
	}
	if !strings.EqualFold(u.Scheme, ruri.Scheme) || u.Wildcard || ruri.Wildcard ||
		u.User != ruri.User || u.Password != ruri.Password ||
		!strings.EqualFold(u.Host, ruri.Host) || u.Port != ruri.Port {
		return false
	}
	return sameParams(u.UriParams, ruri.UriParams) && sameParams(u.Headers, ruri.Headers)
}

// sameParams: any key in both has equal values (case-insensitive).
func sameParams(a, b sip.HeaderParams) bool {
	for _, kv := range a {
		if vb, ok := getFold(b, kv.K); ok && !strings.EqualFold(kv.V, vb) {
			return false
		}
	}
	return true
}

func getFold(p sip.HeaderParams, key string) (string, bool) {
	for _, kv := range p {
		if strings.EqualFold(kv.K, key) {
			return kv.V, true
		}
	}
	return "", false
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

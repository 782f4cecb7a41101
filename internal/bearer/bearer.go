// Package bearer reads bearer credentials (RFC 6750) from a request's
// Authorization header, for every HTTP surface alike. The scheme name is
// case-insensitive (RFC 7235 §2.1: "Bearer", "bearer", "BEARER"); the
// token is compared in constant time and never logged.
package bearer

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Token returns the bearer token of r, and whether it carries one.
func Token(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Is reports whether r carries exactly the bearer token want (never true
// for an empty want).
func Is(r *http.Request, want string) bool {
	got, ok := Token(r)
	return ok && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

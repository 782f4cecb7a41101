package console

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Passwords are stored as "pbkdf2-sha256$<iterations>$<salt>$<key>" with
// base64url (unpadded) salt and key: the form contactcenter checks in the
// configuration. The password itself is never stored, logged or returned.
const (
	passwordScheme = "pbkdf2-sha256"
	// PasswordIterations follows OWASP's 2023 advice for PBKDF2-SHA256.
	PasswordIterations = 600_000
	passwordKeyLen     = 32
	passwordSaltLen    = 16
	// MinPasswordLen is the shortest password HashPassword accepts.
	MinPasswordLen = 8
	// MaxPasswordLen bounds the work an attacker can ask for per attempt.
	MaxPasswordLen = 256
)

// ErrBadPassword means the password does not match the stored hash.
var ErrBadPassword = errors.New("wrong user or password")

// HashPassword returns the stored form of password with a fresh salt.
func HashPassword(password string) (string, error) {
	if n := len([]rune(password)); n < MinPasswordLen || len(password) > MaxPasswordLen {
		return "", fmt.Errorf("password: want %d to %d characters", MinPasswordLen, MaxPasswordLen)
	}
	salt := make([]byte, passwordSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: reading random salt: %w", err)
	}
	return hashWith(password, salt, PasswordIterations)
}

func hashWith(password string, salt []byte, iter int) (string, error) {
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, passwordKeyLen)
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	enc := base64.RawURLEncoding
	return fmt.Sprintf("%s$%d$%s$%s", passwordScheme, iter, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifyPassword checks password against a stored hash in constant time
// with respect to the key. A malformed hash never matches.
func VerifyPassword(stored, password string) error {
	parts := strings.Split(stored, "$")
	if len(parts) != 4 || parts[0] != passwordScheme || len(password) > MaxPasswordLen {
		return ErrBadPassword
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 100_000 || iter > 10_000_000 {
		return ErrBadPassword
	}
	enc := base64.RawURLEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) != passwordKeyLen {
		return ErrBadPassword
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, passwordKeyLen)
	if err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrBadPassword
	}
	return nil
}

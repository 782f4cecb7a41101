package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
)

// Encryption names in manifests.
const (
	EncNone       = "none"
	EncX25519     = "age-x25519"     // an age identity file (AGE-SECRET-KEY-1…)
	EncHybrid     = "age-hybrid"     // an age post-quantum hybrid identity (AGE-SECRET-KEY-PQ-1…)
	EncPassphrase = "age-passphrase" // any other key file: its text is a passphrase (age scrypt)
)

// minPassphrase is the shortest passphrase a key file may hold.
const minPassphrase = 16

// Key is the backup key of --backup-key-file (or restore's --key-file).
// The file is one of
//   - an age identity file — lines "AGE-SECRET-KEY-1…" (X25519) or
//     "AGE-SECRET-KEY-PQ-1…" (hybrid), comments "#": backups are
//     encrypted to its first identity and it decrypts them;
//   - an age recipient — a line "age1…" (the public key of such an
//     identity): backups are encrypted to it, and only the identity kept
//     elsewhere decrypts them (the node cannot read its own backups);
//   - any other text, a passphrase (age's scrypt recipient; one line, at
//     least 16 characters).
//
// Its content is never logged or shown.
type Key struct {
	path       string
	kind       string
	recipient  age.Recipient
	identities []age.Identity
	public     string // the recipient's public key (identity files only)
}

// LoadKey reads a key file. It refuses a file that others than its
// owner can read.
func LoadKey(path string) (*Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s can be read by others (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	if st.Size() > 1<<20 {
		return nil, fmt.Errorf("key file %s is larger than 1 MiB: not a key", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	return parseKey(path, b)
}

func parseKey(path string, b []byte) (*Key, error) {
	k := &Key{path: path}
	if firstLineHas(b, "age1") {
		rs, err := age.ParseRecipients(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("key file %s: not a valid age recipient: %v", path, err)
		}
		switch r := rs[0].(type) {
		case *age.X25519Recipient:
			k.kind, k.recipient, k.public = EncX25519, r, r.String()
		case *age.HybridRecipient:
			k.kind, k.recipient, k.public = EncHybrid, r, r.String()
		default:
			return nil, fmt.Errorf("key file %s: unsupported age recipient type", path)
		}
		return k, nil
	}
	if firstLineHas(b, "AGE-SECRET-KEY-") {
		ids, err := age.ParseIdentities(bytes.NewReader(b))
		if err != nil {
			// age's messages never quote key material.
			return nil, fmt.Errorf("key file %s: not a valid age identity file: %v", path, err)
		}
		k.identities = ids
		switch id := ids[0].(type) {
		case *age.X25519Identity:
			k.kind, k.recipient, k.public = EncX25519, id.Recipient(), id.Recipient().String()
		case *age.HybridIdentity:
			k.kind, k.recipient, k.public = EncHybrid, id.Recipient(), id.Recipient().String()
		default:
			return nil, fmt.Errorf("key file %s: unsupported age identity type", path)
		}
		return k, nil
	}
	pass := strings.TrimRight(string(b), "\r\n")
	switch {
	case strings.ContainsAny(pass, "\r\n"):
		return nil, fmt.Errorf("key file %s: a passphrase is one line (or give an age identity file)", path)
	case len(pass) < minPassphrase:
		return nil, fmt.Errorf("key file %s: a passphrase needs at least %d characters (or give an age identity file)", path, minPassphrase)
	}
	r, err := age.NewScryptRecipient(pass)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %v", path, err)
	}
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %v", path, err)
	}
	k.kind, k.recipient, k.identities = EncPassphrase, r, []age.Identity{id}
	return k, nil
}

// firstLineHas reports whether b's first line that is not a comment or
// empty starts with prefix.
func firstLineHas(b []byte, prefix string) bool {
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return strings.HasPrefix(line, prefix)
	}
	return false
}

// CanDecrypt reports whether the key decrypts (it is not a public key
// alone).
func (k *Key) CanDecrypt() bool { return k != nil && len(k.identities) > 0 }

// Kind is the key's encryption name (EncX25519, EncHybrid, EncPassphrase).
func (k *Key) Kind() string { return k.kind }

// Recipient is the public key backups are encrypted to; "" for a
// passphrase.
func (k *Key) Recipient() string { return k.public }

// Path is the key file's path.
func (k *Key) Path() string { return k.path }

func (k *Key) encrypt(w io.Writer) (io.WriteCloser, error) {
	return age.Encrypt(w, k.recipient)
}

// ErrWrongKey means a key does not decrypt a backup.
var ErrWrongKey = errors.New("wrong key")

func (k *Key) decrypt(r io.Reader) (io.Reader, error) {
	if !k.CanDecrypt() {
		return nil, fmt.Errorf("key file %s holds only the public key backups are encrypted to: decrypting needs its identity (AGE-SECRET-KEY-…)", k.path)
	}
	out, err := age.Decrypt(r, k.identities...)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return nil, ErrWrongKey
	}
	return out, err
}

// matches refuses, before any file is read, a key that cannot be the one
// m was encrypted with; ErrWrongKey (wrapped) when it is not.
func (k *Key) matches(m *Manifest) error {
	switch {
	case m.Encryption == EncNone:
		return nil
	case k == nil:
		return fmt.Errorf("backup %s is encrypted (%s): give its key file", m.ID, m.Encryption)
	case m.Encryption != k.kind:
		return fmt.Errorf("%w: backup %s is encrypted with %s, key file %s holds %s", ErrWrongKey, m.ID, describeEnc(m.Encryption), k.path, describeEnc(k.kind))
	case m.Recipient != "" && m.Recipient != k.public:
		return fmt.Errorf("%w: backup %s is encrypted to %s, key file %s is the key of %s", ErrWrongKey, m.ID, m.Recipient, k.path, k.public)
	}
	return nil
}

func describeEnc(kind string) string {
	switch kind {
	case EncX25519:
		return "an age X25519 key"
	case EncHybrid:
		return "an age hybrid key"
	case EncPassphrase:
		return "a passphrase"
	}
	return kind
}

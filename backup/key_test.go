package backup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func TestLoadKey(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	hy, _ := age.GenerateHybridIdentity()
	tests := []struct {
		name, content string
		mode          os.FileMode
		kind, wantErr string
	}{
		{"x25519 identity", "# created by age-keygen\n" + id.String() + "\n", 0o600, EncX25519, ""},
		{"hybrid identity", hy.String() + "\n", 0o400, EncHybrid, ""},
		{"passphrase", "a long enough passphrase\n", 0o600, EncPassphrase, ""},
		{"x25519 recipient", "# public key\n" + id.Recipient().String() + "\n", 0o600, EncX25519, ""},
		{"broken recipient", "age1notakey\n", 0o600, "", "not a valid age recipient"},
		{"short passphrase", "short\n", 0o600, "", "at least 16 characters"},
		{"two lines", "a long enough passphrase\nand more\n", 0o600, "", "one line"},
		{"broken identity", "AGE-SECRET-KEY-1NOTAKEY\n", 0o600, "", "not a valid age identity file"},
		{"readable by others", id.String() + "\n", 0o644, "", "can be read by others (mode 0644)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(path, tt.mode)
			k, err := LoadKey(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "AGE-SECRET") || strings.Contains(err.Error(), "passphrase\n") {
					t.Fatalf("error quotes the key: %v", err)
				}
				return
			}
			if err != nil || k.Kind() != tt.kind {
				t.Fatalf("key %v, err %v, want kind %s", k, err, tt.kind)
			}
		})
	}
}

// A passphrase key encrypts and decrypts; another passphrase is a wrong
// key, found when decrypting (a passphrase has no public part to compare).
func TestPassphraseKey(t *testing.T) {
	dir := t.TempDir()
	k := passphraseKey(t, "correct horse battery staple")
	w := &writer{dir: dir, node: "n1", key: k, src: &fakeSource{}, now: time.Now}
	m, err := w.take(context.Background(), Full)
	if err != nil {
		t.Fatal(err)
	}
	if m.Encryption != EncPassphrase || m.Recipient != "" {
		t.Fatalf("manifest encryption %s %q", m.Encryption, m.Recipient)
	}
	if _, err := Verify(context.Background(), dir, m.ID, k); err != nil {
		t.Fatal(err)
	}
	other := passphraseKey(t, "incorrect horse battery staple")
	_, err = Verify(context.Background(), dir, m.ID, other)
	if err == nil || !strings.Contains(err.Error(), "wrong key: key file "+other.Path()+" does not decrypt backup "+m.ID) {
		t.Fatalf("verify with another passphrase: %v", err)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"20260501T020000Z-n1-full":        true,
		"20260501T020000Z-node.a_b-incr":  true,
		"20260501T020000Z-n1-full-2":      true,
		"20260501T020000Z-n1-weekly":      false,
		"../20260501T020000Z-n1-full":     false,
		"20260501T020000Z-..-full":        false,
		".tmp-20260501T020000Z-n1-full":   false,
		"20260501T020000Z-n1/x-full":      false,
		"20260501T020000Z-n1-full\n":      false,
		"2026-05-01T02:00:00Z-n1-full":    false,
		"20260501T020000Z-n1-full-123456": false,
	} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
}

// A key file holding only the public key (age1…) encrypts: the node can
// verify its backups' checksums but not decrypt them; only the identity
// kept elsewhere restores them.
func TestRecipientOnlyKey(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	write := func(name, content string) *Key {
		path := filepath.Join(t.TempDir(), name)
		os.WriteFile(path, []byte(content), 0o600)
		k, err := LoadKey(path)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	pub := write("pub", id.Recipient().String()+"\n")
	sec := write("sec", id.String()+"\n")
	if pub.CanDecrypt() || !sec.CanDecrypt() || pub.Recipient() != sec.Recipient() {
		t.Fatalf("keys: %+v %+v", pub, sec)
	}
	dir := t.TempDir()
	w := &writer{dir: dir, node: "n1", key: pub, src: &fakeSource{}, now: time.Now}
	m, err := w.take(context.Background(), Full)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), dir, m.ID, pub)
	if err != nil || !strings.Contains(strings.Join(rep.Checks, "; "), "not decrypted") {
		t.Fatalf("verify with the public key: %v %v", rep, err)
	}
	if _, err := Verify(context.Background(), dir, m.ID, sec); err != nil {
		t.Fatalf("verify with the identity: %v", err)
	}
	_, err = PlanRestore(RestoreRequest{From: filepath.Join(dir, m.ID), DataDir: filepath.Join(t.TempDir(), "d"), Key: pub})
	if err == nil || !strings.Contains(err.Error(), "holds only its public key") {
		t.Fatalf("restore with the public key: %v", err)
	}
}

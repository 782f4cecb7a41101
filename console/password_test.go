package console

import (
	"strings"
	"testing"

	cc "github.com/tandemcc/tandem/contactcenter"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "correct") {
		t.Fatalf("hash %q contains the password", h)
	}
	if err := VerifyPassword(h, "correct horse"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	h2, _ := HashPassword("correct horse")
	if h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	// The engine's configuration accepts the form HashPassword makes.
	doc, err := cc.ParseDocument([]byte("users:\n  - {id: u, password_hash: \"" + h + "\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(); err != nil {
		t.Fatalf("engine refuses the hash form: %v", err)
	}
	for _, tc := range []struct{ name, stored, pw string }{
		{"wrong password", h, "correct horsE"},
		{"empty password", h, ""},
		{"too long", h, strings.Repeat("x", MaxPasswordLen+1)},
		{"other scheme", strings.Replace(h, "pbkdf2-sha256", "pbkdf2-sha1", 1), "correct horse"},
		{"few iterations", "pbkdf2-sha256$1000$" + strings.SplitN(h, "$", 3)[2], "correct horse"},
		{"truncated", h[:len(h)-2], "correct horse"},
		{"empty hash", "", "correct horse"},
		{"garbage", "$$$", "correct horse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifyPassword(tc.stored, tc.pw); err != ErrBadPassword {
				t.Fatalf("got %v, want ErrBadPassword", err)
			}
		})
	}
	if _, err := HashPassword("short"); err == nil {
		t.Fatal("a 5-character password was accepted")
	}
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/console"
)

func TestHashPassword(t *testing.T) {
	hash := func(stdin string) ctlResult {
		var out, errb bytes.Buffer
		e := env{getenv: func(string) string { return "" }, stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
		return ctlResult{run(context.Background(), []string{"hash-password"}, e), out.String(), errb.String()}
	}
	r := hash("s3cret-pass\n")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertOneLine(t, "stdout", r.stdout)
	h := strings.TrimSpace(r.stdout)
	if strings.Contains(r.stdout+r.stderr, "s3cret") {
		t.Fatal("the password was echoed")
	}
	if err := console.VerifyPassword(h, "s3cret-pass"); err != nil {
		t.Fatalf("printed hash does not verify: %v", err)
	}
	for _, in := range []string{"", "short\n"} {
		r := hash(in)
		if r.code == 0 || r.stdout != "" {
			t.Fatalf("stdin %q: exit %d stdout %q", in, r.code, r.stdout)
		}
		assertOneLine(t, "stderr", r.stderr)
	}
	// A password given as an argument is refused, and not repeated.
	if r := runCtl(t, nil, "hash-password", "s3cret-pass"); r.code != 2 || strings.Contains(r.stdout+r.stderr, "s3cret") ||
		!strings.Contains(r.stderr, "give the password on standard input") {
		t.Fatalf("a password argument: exit %d, want 2 (usage); stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

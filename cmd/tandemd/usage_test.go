package main

import (
	"flag"
	"strings"
	"testing"
)

// TestUsage: --help names every flag's value (no Go type names such as
// "string" or "value") and gives each flag one default at most (issue
// 12.6).
func TestUsage(t *testing.T) {
	u := usage()
	var o options
	var cf string
	seen := 0
	newFlagSet(&o, &cf).VisitAll(func(f *flag.Flag) {
		seen++
		i := strings.Index(u, "\n  --"+f.Name+" ")
		if i < 0 {
			i = strings.Index(u, "\n  --"+f.Name+"\n")
		}
		if i < 0 {
			t.Errorf("--%s missing from the usage", f.Name)
			return
		}
		entry := u[i+1:]
		if j := strings.Index(entry[3:], "\n  --"); j >= 0 {
			entry = entry[:j+3]
		}
		head, _, _ := strings.Cut(entry, "\n")
		for _, bad := range []string{" string", " value", " uint", " duration", " int"} {
			if strings.HasSuffix(head, bad) {
				t.Errorf("--%s shows a Go type as its value: %q", f.Name, head)
			}
		}
		if n := strings.Count(entry, "(default"); n > 1 {
			t.Errorf("--%s has %d defaults: %q", f.Name, n, entry)
		}
		if strings.Contains(entry, "`") {
			t.Errorf("--%s shows a backquote: %q", f.Name, entry)
		}
	})
	if seen == 0 {
		t.Fatal("no flags")
	}
}

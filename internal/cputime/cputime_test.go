//go:build unix

package cputime

import (
	"testing"
	"time"
)

// TestSelfGrows: spinning for a while shows as CPU time used.
func TestSelfGrows(t *testing.T) {
	before := Self()
	deadline := time.Now().Add(50 * time.Millisecond)
	n := 0
	for time.Now().Before(deadline) {
		n++
	}
	if after := Self(); after <= before {
		t.Fatalf("CPU time %v after spinning %d times, %v before", after, n, before)
	}
}

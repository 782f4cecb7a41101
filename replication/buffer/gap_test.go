package buffer

import (
	"testing"

	"github.com/tandemcc/tandem/command"
)

// A recorded gap (a snapshot installed from the leader) and its clearing:
// by an Ack past it (the target got the events from another node) or by
// ClearGap (a sync re-sent them), also while detached and across a restart.
func TestRecordGapAndClearIt(t *testing.T) {
	snap := command.Position{Index: 40, Seq: command.MaxSeq}
	tests := []struct {
		name  string
		clear func(t *testing.T, c *Consumer)
	}{
		{"ack past the gap", func(t *testing.T, c *Consumer) {
			if err := c.Ack(snap); err != nil {
				t.Fatal(err)
			}
		}},
		{"clear gap while detached", func(t *testing.T, c *Consumer) {
			if err := c.Detach(); err != nil {
				t.Fatal(err)
			}
			gap, err := c.ClearGap(snap)
			if err != nil || gap {
				t.Fatalf("ClearGap: gap %v, %v", gap, err)
			}
			if c.Stats().Attached {
				t.Fatal("ClearGap attached the consumer")
			}
			if err := c.Attach(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{MaxBytes: 1 << 20, Consumers: both}
			b := openT(t, dir, opts)
			rep, sb := consumerT(t, b, "reporting"), consumerT(t, b, "standby")
			appendT(t, b, stream(1, 10)...)
			// standby's target is known to be ahead of the gap already.
			if err := sb.Ack(command.Position{Index: 50}); err != nil {
				t.Fatal(err)
			}
			if err := b.RecordGap(command.Position{Index: 5}, snap, 30); err != nil {
				t.Fatal(err)
			}
			if err := b.RecordGap(command.Position{Index: 2}, command.Position{Index: 3}, 1); err != nil {
				t.Fatal(err) // behind Last: nothing
			}
			if !rep.Stats().Gap || sb.Stats().Gap {
				t.Fatalf("gap flags: reporting %v standby %v", rep.Stats().Gap, sb.Stats().Gap)
			}
			appendT(t, b, stream(38, 45)...) // 38..40 are inside the gap: skipped
			evs, err := rep.Read(0)
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, evs, 1, 10)
			if err := rep.Ack(evs[len(evs)-1].Pos()); err != nil {
				t.Fatal(err)
			}
			if !rep.Stats().Gap {
				t.Fatal("an ack short of the gap cleared it")
			}
			_, err = rep.Read(0)
			wantErr(t, err, ErrGap)

			tc.clear(t, rep)
			if rep.Stats().Gap {
				t.Fatal("gap still flagged")
			}
			b.Close()
			b = openT(t, dir, opts)
			rep = consumerT(t, b, "reporting")
			if rep.Stats().Gap {
				t.Fatal("cleared gap back after a restart")
			}
			evs = drain(t, rep, 0)
			if len(evs) == 0 || evs[0].Index != 41 {
				t.Fatalf("after the gap read %v", evs)
			}
			checkStream(t, evs, 41, 45)
		})
	}
}

// ClearGap short of the gap moves the cursor but keeps the flag.
func TestClearGapShortOfTheGap(t *testing.T) {
	b := openT(t, t.TempDir(), Options{MaxBytes: 1 << 20, Consumers: []string{"reporting"}})
	rep := consumerT(t, b, "reporting")
	appendT(t, b, stream(1, 10)...)
	if err := b.RecordGap(command.Position{Index: 11}, command.Position{Index: 20}, 10); err != nil {
		t.Fatal(err)
	}
	gap, err := rep.ClearGap(command.Position{Index: 15})
	if err != nil || !gap {
		t.Fatalf("ClearGap short of the gap: gap %v, %v", gap, err)
	}
	if rep.Cursor() != (command.Position{Index: 15}) {
		t.Fatalf("cursor %v", rep.Cursor())
	}
}

package buffer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

var both = []string{"reporting", "standby"}

func TestAppendIsIdempotentByPosition(t *testing.T) {
	type step struct {
		from, to uint64 // indexes appended as one batch
		reopen   bool   // close and reopen before this step
	}
	tests := []struct {
		name  string
		steps []step
		last  uint64 // the stream 1..last must be stored exactly once
	}{
		{"plain", []step{{1, 10, false}}, 10},
		{"full replay", []step{{1, 10, false}, {1, 10, false}}, 10},
		{"overlapping replay", []step{{1, 10, false}, {5, 15, false}}, 15},
		{"older batch after newer", []step{{1, 20, false}, {3, 8, false}}, 20},
		{"replay after restart", []step{{1, 10, false}, {1, 25, true}}, 25},
		{"replay across segments after restart", []step{{1, 200, false}, {50, 260, true}, {1, 300, true}}, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10, Consumers: both, MaxReadBytes: 64 << 20}
			b, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.steps {
				if s.reopen {
					if err := b.Close(); err != nil {
						t.Fatal(err)
					}
					if b, err = Open(dir, opts); err != nil {
						t.Fatal(err)
					}
				}
				appendT(t, b, stream(s.from, s.to)...)
			}
			defer b.Close()
			evs, err := peekAll(t, consumerT(t, b, "standby"))
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, evs, 1, tt.last)
			if got := b.Last(); got != stream(tt.last, tt.last)[len(stream(tt.last, tt.last))-1].Pos() {
				t.Fatalf("Last = %v", got)
			}
		})
	}
}

func TestDuplicatesInsideOneBatchAreSkipped(t *testing.T) {
	b := openT(t, t.TempDir(), Options{MaxBytes: 1 << 20, Consumers: both})
	e := func(i uint64) command.Event { return streamEvent(i, 0) }
	appendT(t, b, e(1), e(2), e(2), e(1), e(3))
	evs, err := peekAll(t, consumerT(t, b, "reporting"))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Index != 1 || evs[1].Index != 2 || evs[2].Index != 3 {
		t.Fatalf("got %s", span(evs))
	}
}

func TestReadAckAndResume(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 1 << 20, SegmentBytes: 8 << 10, Consumers: both}
	b := openT(t, dir, opts)
	appendT(t, b, stream(1, 100)...)
	rep := consumerT(t, b, "reporting")

	first, err := rep.Read(10)
	if err != nil || len(first) != 10 {
		t.Fatalf("Read(10): %d events, %v", len(first), err)
	}
	again, _ := rep.Read(10)
	if again[0].Pos() != first[0].Pos() || len(again) != 10 {
		t.Fatal("a second Read before Ack must return the same events")
	}
	if err := rep.Ack(first[9].Pos()); err != nil {
		t.Fatal(err)
	}
	if err := rep.Ack(first[3].Pos()); err != nil { // backwards: no-op
		t.Fatal(err)
	}
	if rep.Cursor() != first[9].Pos() {
		t.Fatalf("cursor %v went back", rep.Cursor())
	}
	next, _ := rep.Read(1)
	if len(next) != 1 || !next[0].Pos().After(first[9].Pos()) {
		t.Fatalf("after Ack got %s", span(next))
	}
	// Ack of a position that is not an event boundary of the last Read
	// (no hint) is located from the files.
	mid := stream(1, 100)[57].Pos()
	if err := rep.Ack(mid); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openT(t, dir, opts)
	rep = consumerT(t, b, "reporting")
	if rep.Cursor() != mid {
		t.Fatalf("cursor after reopen %v, want %v", rep.Cursor(), mid)
	}
	rest := drain(t, rep, 7)
	all := stream(1, 100)
	if len(rest) != len(all)-58 || rest[0].Pos() != all[58].Pos() {
		t.Fatalf("resumed at %s, want from %v", span(rest), all[58].Pos())
	}
	st := rep.Stats()
	if st.BacklogBytes != 0 || st.BacklogEvents != 0 || st.Percent != 0 {
		t.Fatalf("drained consumer stats %+v", st)
	}
	// The other consumer still has everything.
	if st := consumerT(t, b, "standby").Stats(); st.BacklogEvents != int64(len(all)) {
		t.Fatalf("standby backlog %d events, want %d", st.BacklogEvents, len(all))
	}
}

func TestReadIsBounded(t *testing.T) {
	evs := stream(1, 50)
	size := framed(evs[:5])
	tests := []struct {
		name     string
		max      int
		maxBytes int
		want     int
	}{
		{"by count", 7, 1 << 20, 7},
		{"by bytes", 0, int(size), 5},
		{"bytes just under five", 0, int(size) - 1, 4},
		{"at least one", 0, 1, 1},
		{"count below bytes", 3, int(size), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := openT(t, t.TempDir(), Options{MaxBytes: 1 << 20, Consumers: both, MaxReadBytes: tt.maxBytes})
			appendT(t, b, evs...)
			got, err := consumerT(t, b, "reporting").Read(tt.max)
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d events, %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

func TestAckAheadOfTheBuffer(t *testing.T) {
	// A follower learns how far the leader delivered, beyond what it
	// has applied itself.
	b := openT(t, t.TempDir(), Options{MaxBytes: 1 << 20, Consumers: both, MaxReadBytes: 64 << 20})
	appendT(t, b, stream(1, 10)...)
	rep := consumerT(t, b, "reporting")
	ahead := pos(20, 1)
	if err := rep.Ack(ahead); err != nil {
		t.Fatal(err)
	}
	appendT(t, b, stream(11, 30)...)
	evs := drain(t, rep, 0)
	for _, ev := range evs {
		if !ev.Pos().After(ahead) {
			t.Fatalf("read %v, acknowledged up to %v", ev.Pos(), ahead)
		}
	}
	if evs[0].Pos() != pos(20, 2) || evs[len(evs)-1].Index != 30 {
		t.Fatalf("got %s", span(evs))
	}
	if st := rep.Stats(); st.BacklogBytes != 0 {
		t.Fatalf("backlog %d after draining", st.BacklogBytes)
	}
}

func TestReclaim(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10, Consumers: both, MaxReadBytes: 64 << 20}
	b := openT(t, dir, opts)
	appendT(t, b, stream(1, 400)...)
	nseg := len(segFiles(t, dir))
	if nseg < 10 {
		t.Fatalf("only %d segments", nseg)
	}
	if st := b.Stats(); st.Segments != nseg || st.DiskBytes != st.UsedBytes {
		t.Fatalf("stats %+v with %d files", st, nseg)
	}

	rep, sb := consumerT(t, b, "reporting"), consumerT(t, b, "standby")
	drain(t, rep, 100)
	if got := len(segFiles(t, dir)); got != nseg {
		t.Fatalf("standby still needs everything, but %d of %d segments are left", got, nseg)
	}

	// standby acknowledges half: the segments wholly before its cursor go.
	half := stream(1, 200)
	if err := sb.Ack(half[len(half)-1].Pos()); err != nil {
		t.Fatal(err)
	}
	left := segFiles(t, dir)
	if len(left) >= nseg || len(left) < nseg/3 {
		t.Fatalf("%d of %d segments left after acknowledging half", len(left), nseg)
	}
	st := b.Stats()
	if st.DiskBytes < st.UsedBytes || st.DiskBytes-st.UsedBytes > opts.SegmentBytes {
		t.Fatalf("disk %d, used %d: more than one segment of slack", st.DiskBytes, st.UsedBytes)
	}
	var onDisk int64
	for _, f := range left {
		onDisk += fileSize(t, f)
	}
	if onDisk != st.DiskBytes {
		t.Fatalf("files hold %d bytes, stats say %d", onDisk, st.DiskBytes)
	}

	// Detaching standby releases everything but the last segment, and
	// it then reports a gap: records it had not acknowledged are gone.
	if err := sb.Detach(); err != nil {
		t.Fatal(err)
	}
	if got := len(segFiles(t, dir)); got != 1 {
		t.Fatalf("%d segments left with nothing needed", got)
	}
	if st := sb.Stats(); !st.Gap || st.Attached || st.Percent != 0 {
		t.Fatalf("detached standby stats %+v", st)
	}
	_, err := sb.Read(1)
	wantErr(t, err, ErrDetached)
	wantErr(t, sb.Ack(pos(399, 0)), ErrDetached)

	// Reclaiming survives a restart, and so does the gap.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openT(t, dir, opts)
	sb = consumerT(t, b, "standby")
	if st := sb.Stats(); !st.Gap || st.Attached {
		t.Fatalf("after reopen standby %+v", st)
	}
	if st := b.Stats(); st.Floor == (command.Position{}) || st.UsedBytes != 0 {
		t.Fatalf("after reopen %+v", st)
	}
	// restart: Reset attaches at the end with no gap.
	if err := sb.Reset(); err != nil {
		t.Fatal(err)
	}
	if st := sb.Stats(); st.Gap || !st.Attached || st.Cursor != b.Last() || st.BacklogBytes != 0 {
		t.Fatalf("after Reset %+v", st)
	}
	appendT(t, b, stream(401, 410)...)
	evs := drain(t, sb, 0)
	checkStream(t, evs, 401, 410)
}

func TestAttachResumesAtTheCursor(t *testing.T) {
	dir := t.TempDir()
	b := openT(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10, Consumers: both, MaxReadBytes: 64 << 20})
	appendT(t, b, stream(1, 10)...)
	rep, sb := consumerT(t, b, "reporting"), consumerT(t, b, "standby")
	drain(t, rep, 0)
	drain(t, sb, 0)

	// Detached, nothing reclaimed yet: re-attaching loses nothing.
	if err := sb.Detach(); err != nil {
		t.Fatal(err)
	}
	appendT(t, b, stream(11, 12)...)
	if err := sb.Attach(); err != nil {
		t.Fatal(err)
	}
	checkStream(t, drain(t, sb, 0), 11, 12)
	if sb.Stats().Gap {
		t.Fatal("gap without anything reclaimed")
	}

	// Detached while reporting moves on and segments are reclaimed: the
	// consumer comes back with a gap, durably.
	if err := sb.Detach(); err != nil {
		t.Fatal(err)
	}
	appendT(t, b, stream(13, 200)...)
	drain(t, rep, 0)
	b.Close()
	b = openT(t, dir, Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10, Consumers: both})
	sb = consumerT(t, b, "standby")
	if st := sb.Stats(); st.Attached || !st.Gap {
		t.Fatalf("after reopen %+v", st)
	}
	if err := sb.Attach(); err != nil {
		t.Fatal(err)
	}
	_, err := sb.Read(0)
	wantErr(t, err, ErrGap)
	if err := sb.Reset(); err != nil {
		t.Fatal(err)
	}
	appendT(t, b, stream(201, 202)...)
	checkStream(t, drain(t, sb, 0), 201, 202)
}

func TestReclaimWithNoConsumerAttached(t *testing.T) {
	// All replication stopped: the disk use stays bounded.
	dir := t.TempDir()
	b := openT(t, dir, Options{MaxBytes: 64 << 10, SegmentBytes: 4 << 10, Consumers: both})
	for _, n := range both {
		if err := consumerT(t, b, n).Detach(); err != nil {
			t.Fatal(err)
		}
	}
	for i := uint64(1); i <= 2000; i += 10 {
		appendT(t, b, stream(i, i+9)...)
	}
	b.bg.Wait() // sealing reclaims in the background
	if n := len(segFiles(t, dir)); n > 2 {
		t.Fatalf("%d segments kept for nobody", n)
	}
	if st := b.Stats(); st.UsedBytes != 0 || st.DroppedEvents != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFillPercent(t *testing.T) {
	const capacity = 200_000
	evs := stream(1, 300)
	at := func(n int) command.Position { return evs[n-1].Pos() } // position of the n-th event
	total := framed(evs)
	pct := func(n int64) float64 { return 100 * float64(n) / capacity }
	tests := []struct {
		name            string
		repAck, sbAck   int  // events acknowledged (0: none)
		detachSB        bool // standby stopped
		wantRep, wantSB float64
		wantTotal       float64
	}{
		{"nothing acknowledged", 0, 0, false, pct(total), pct(total), pct(total)},
		{"reporting half way", 300, 0, false, pct(total - framed(evs[:300])), pct(total), pct(total)},
		{"both caught up", len(evs), len(evs), false, 0, 0, 0},
		{"standby behind", len(evs), 100, false, 0, pct(total - framed(evs[:100])), pct(total - framed(evs[:100]))},
		{"reporting behind", 10, 500, false, pct(total - framed(evs[:10])), pct(total - framed(evs[:500])), pct(total - framed(evs[:10]))},
		{"standby detached", 400, 0, true, pct(total - framed(evs[:400])), 0, pct(total - framed(evs[:400]))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := openT(t, t.TempDir(), Options{MaxBytes: capacity, SegmentBytes: 4 << 10, Consumers: both})
			appendT(t, b, evs...)
			rep, sb := consumerT(t, b, "reporting"), consumerT(t, b, "standby")
			if tt.repAck > 0 {
				if err := rep.Ack(at(tt.repAck)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.sbAck > 0 {
				if err := sb.Ack(at(tt.sbAck)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.detachSB {
				if err := sb.Detach(); err != nil {
					t.Fatal(err)
				}
			}
			st := b.Stats()
			if st.Percent != tt.wantTotal || st.Consumers[0].Percent != tt.wantRep || st.Consumers[1].Percent != tt.wantSB {
				t.Fatalf("percent total %.4f reporting %.4f standby %.4f; want %.4f %.4f %.4f",
					st.Percent, st.Consumers[0].Percent, st.Consumers[1].Percent, tt.wantTotal, tt.wantRep, tt.wantSB)
			}
			if st.Consumers[0].Name != "reporting" || st.UsedBytes != int64(tt.wantTotal*capacity/100+0.5) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestFullRecordsAGap(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 20_000, SegmentBytes: 4 << 10, Consumers: both, MaxReadBytes: 64 << 20}
	b := openT(t, dir, opts)
	rep, sb := consumerT(t, b, "reporting"), consumerT(t, b, "standby")

	var i uint64 = 1
	var full error
	for ; i < 10_000; i++ {
		if full = b.Append(indexEvents(i)...); full != nil {
			break
		}
		if _, err := rep.Read(0); err != nil { // reporting keeps up, standby does not
			t.Fatal(err)
		}
		if err := rep.Ack(indexEvents(i)[len(indexEvents(i))-1].Pos()); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, full, ErrFull)
	lost := i
	st := b.Stats()
	if st.DroppedEvents != int64(len(indexEvents(lost))) || st.LostUpTo != b.Last() || st.Percent > 100.5 {
		t.Fatalf("stats after overflow %+v", st)
	}
	for _, c := range st.Consumers {
		if !c.Gap {
			t.Fatalf("%s has no gap after an overflow it was attached for", c.Name)
		}
	}
	// standby reads what was stored, then hits the gap.
	evs, err := sb.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, evs, 1, lost-1)
	if err := sb.Ack(evs[len(evs)-1].Pos()); err != nil {
		t.Fatal(err)
	}
	_, err = sb.Read(0)
	wantErr(t, err, ErrGap)

	// Replaying the dropped index stores nothing: it is accounted for.
	appendT(t, b, indexEvents(lost)...)
	if b.Stats().DroppedEvents != st.DroppedEvents {
		t.Fatal("replay of a dropped index changed the accounting")
	}

	// The gap survives a restart.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openT(t, dir, opts)
	rep, sb = consumerT(t, b, "reporting"), consumerT(t, b, "standby")
	_, err = rep.Read(0)
	wantErr(t, err, ErrGap)
	if !rep.Stats().Gap || !sb.Stats().Gap {
		t.Fatal("gap lost across a restart")
	}
	// restart of replication: Reset clears it, new events flow.
	for _, c := range []*Consumer{rep, sb} {
		if err := c.Reset(); err != nil {
			t.Fatal(err)
		}
	}
	appendT(t, b, stream(lost+1, lost+5)...)
	checkStream(t, drain(t, rep, 0), lost+1, lost+5)
	checkStream(t, drain(t, sb, 0), lost+1, lost+5)
	if st := b.Stats(); st.Consumers[0].Gap || st.Consumers[1].Gap {
		t.Fatalf("gap after Reset: %+v", st)
	}
}

func TestDetachFreesSpaceWhenFull(t *testing.T) {
	b := openT(t, t.TempDir(), Options{MaxBytes: 20_000, SegmentBytes: 2 << 10, Consumers: both})
	var i uint64 = 1
	for ; b.Append(indexEvents(i)...) == nil; i++ {
	}
	// The replication layer stops the target filling the buffer...
	if err := consumerT(t, b, "standby").Detach(); err != nil {
		t.Fatal(err)
	}
	if err := consumerT(t, b, "reporting").Detach(); err != nil {
		t.Fatal(err)
	}
	// ...and appends go on.
	appendT(t, b, stream(i+1, i+50)...)
	if st := b.Stats(); st.UsedBytes != 0 {
		t.Fatalf("used %d with every consumer detached", st.UsedBytes)
	}
}

func TestTooLarge(t *testing.T) {
	b := openT(t, t.TempDir(), Options{MaxBytes: 8 << 10, Consumers: both, MaxReadBytes: 64 << 20})
	appendT(t, b, stream(1, 3)...)
	big := command.Event{Index: 4, Type: "mail.received", Data: make([]byte, 9<<10)}
	wantErr(t, b.Append(big, streamEvent(5, 0)), ErrTooLarge)
	if st := b.Stats(); st.DroppedEvents != 2 || st.LostUpTo != pos(5, 0) {
		t.Fatalf("stats %+v", st)
	}
	evs, err := consumerT(t, b, "reporting").Read(0)
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, evs, 1, 3)
}

func TestInvalidInput(t *testing.T) {
	dir := t.TempDir()
	for _, opts := range []Options{
		{MaxBytes: -1},
		{SegmentBytes: -1},
		{Consumers: []string{"a/b"}},
		{Consumers: []string{""}},
		{Consumers: []string{"x", "x"}},
	} {
		if _, err := Open(dir, opts); err == nil {
			t.Errorf("Open accepted %+v", opts)
		}
	}
	b := openT(t, dir, Options{Consumers: both})
	if st := b.Stats(); st.MaxBytes != DefaultMaxBytes || st.SegmentBytes != 8<<20 {
		t.Fatalf("defaults: %+v", st)
	}
	_, err := b.Consumer("nope")
	wantErr(t, err, ErrUnknownConsumer)
	for _, ev := range []command.Event{{Index: 0}, {Index: 1, Seq: -1}, {Index: 1, Seq: command.MaxSeq + 1}} {
		wantErr(t, b.Append(streamEvent(1, 0), ev), ErrInvalidEvent)
	}
	// Nothing of the batch is stored, and its valid event is recorded as
	// dropped (once: the later batches repeat it).
	if st := b.Stats(); st.DroppedEvents != 1 || st.LostUpTo != pos(1, 0) || st.Last != pos(1, 0) {
		t.Fatalf("after invalid batches: %+v", st)
	}
	_, err = consumerT(t, b, "standby").Read(0)
	wantErr(t, err, ErrGap)
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{})
	wantErr(t, err, ErrLocked)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	b2.Close()
	wantErr(t, b2.Append(streamEvent(1, 0)), ErrClosed)
	wantErr(t, b2.Sync(), ErrClosed)
}

func TestWait(t *testing.T) {
	b, err := Open(t.TempDir(), Options{Consumers: both})
	if err != nil {
		t.Fatal(err)
	}
	rep, sb := consumerT(t, b, "reporting"), consumerT(t, b, "standby")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	wantErr(t, rep.Wait(ctx), context.DeadlineExceeded)

	done := make(chan error, 1)
	go func() { done <- rep.Wait(context.Background()) }()
	time.Sleep(5 * time.Millisecond)
	appendT(t, b, stream(1, 1)...)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() { done <- sb.Wait(context.Background()) }()
	if err := <-done; err != nil { // data is there already
		t.Fatal(err)
	}
	drain(t, sb, 0)
	go func() { done <- sb.Wait(context.Background()) }()
	time.Sleep(5 * time.Millisecond)
	if err := sb.Detach(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, <-done, ErrDetached)
	drain(t, rep, 0)
	go func() { done <- rep.Wait(context.Background()) }()
	time.Sleep(5 * time.Millisecond)
	b.Close()
	wantErr(t, <-done, ErrClosed)
}

func TestDiskErrorIsSticky(t *testing.T) {
	b := openT(t, t.TempDir(), Options{Consumers: both})
	appendT(t, b, stream(1, 5)...)
	b.mu.Lock()
	b.active.Close() // the next write fails like a dying disk would
	b.mu.Unlock()
	wantErr(t, b.Append(stream(6, 6)...), ErrFailed)
	wantErr(t, b.Append(stream(7, 7)...), ErrFailed)
	wantErr(t, b.Sync(), ErrFailed)
	if st := b.Stats(); st.Failed == "" || st.Last != pos(5, 2) {
		t.Fatalf("stats %+v", st)
	}
	// Consumers still read what was stored.
	checkStream(t, drain(t, consumerT(t, b, "reporting"), 0), 1, 5)
}

func TestSyncIsCheapWhenClean(t *testing.T) {
	dir := t.TempDir()
	b := openT(t, dir, Options{Consumers: both})
	if err := b.Sync(); err != nil { // nothing at all yet
		t.Fatal(err)
	}
	appendT(t, b, stream(1, 5)...)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	var m metaState
	if _, err := readJSON(dir, metaFile, &m); err != nil {
		t.Fatal(err)
	}
	seg := segFiles(t, dir)[0]
	if m.Synced.Segment != filepath.Base(seg) || m.Synced.Offset != fileSize(t, seg) {
		t.Fatalf("sync mark %+v, segment %s of %d bytes", m.Synced, seg, fileSize(t, seg))
	}
	fi1, _ := os.Stat(filepath.Join(dir, metaFile))
	time.Sleep(10 * time.Millisecond)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if fi2, _ := os.Stat(filepath.Join(dir, metaFile)); !fi2.ModTime().Equal(fi1.ModTime()) {
		t.Fatal("Sync with nothing new rewrote meta.json")
	}
}

func TestConcurrentAppendReadAckSync(t *testing.T) {
	dir := t.TempDir()
	b := openT(t, dir, Options{MaxBytes: 4 << 20, SegmentBytes: 16 << 10, Consumers: both})
	const last = 3000
	var wg sync.WaitGroup
	got := map[string][]command.Event{}
	var mu sync.Mutex
	for _, n := range both {
		c := consumerT(t, b, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var evs []command.Event
			for {
				if err := c.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
				batch, err := c.Read(97)
				if err != nil {
					t.Error(err)
					return
				}
				if len(batch) == 0 {
					continue
				}
				evs = append(evs, batch...)
				if err := c.Ack(batch[len(batch)-1].Pos()); err != nil {
					t.Error(err)
					return
				}
				if batch[len(batch)-1].Index == last {
					mu.Lock()
					got[c.Name()] = evs
					mu.Unlock()
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var side sync.WaitGroup
	side.Add(1)
	go func() { // the snapshot path and a status poller
		defer side.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := b.Sync(); err != nil {
				t.Error(err)
				return
			}
			_ = b.Stats()
			time.Sleep(time.Millisecond)
		}
	}()
	for i := uint64(1); i <= last; i += 7 {
		appendT(t, b, stream(i, min(i+6, last))...)
	}
	wg.Wait()
	close(stop)
	side.Wait()
	for _, n := range both {
		checkStream(t, got[n], 1, last)
	}
	if st := b.Stats(); st.UsedBytes != 0 || st.Segments != 1 {
		t.Fatalf("after both drained: %+v", st)
	}
}

func TestErrorsNameTheConsumer(t *testing.T) {
	b := openT(t, t.TempDir(), Options{Consumers: both})
	sb := consumerT(t, b, "standby")
	if err := sb.Detach(); err != nil {
		t.Fatal(err)
	}
	_, err := sb.Read(1)
	if err == nil || !strings.Contains(err.Error(), "standby") {
		t.Fatalf("error %v does not name the consumer", err)
	}
}

func TestAppendDoesNotWaitForConsumersSyncOrReclaim(t *testing.T) {
	b := openT(t, t.TempDir(), Options{MaxBytes: 1 << 20, SegmentBytes: 4 << 10, Consumers: both})
	appendT(t, b, stream(1, 50)...)
	// Hold what a slow Ack, Read, Sync and reclaim hold.
	for _, n := range both {
		c := b.consumers[n]
		c.rmu.Lock()
		c.cmu.Lock()
	}
	b.smu.Lock()
	b.tmu.Lock()
	done := make(chan error, 1)
	go func() { done <- b.Append(stream(51, 300)...) }() // seals several segments
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Append waited for a consumer, Sync or reclaim")
	}
	b.tmu.Unlock()
	b.smu.Unlock()
	for _, n := range both {
		c := b.consumers[n]
		c.cmu.Unlock()
		c.rmu.Unlock()
	}
	if st := b.Stats(); st.Last.Index != 300 || st.Segments < 3 {
		t.Fatalf("stats %+v", st)
	}
}

package buffer

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// The crash test re-executes the test binary as a child (TestMain sees
// crashDirEnv) that appends, syncs, reads and acknowledges in a loop,
// printing what it has synced and acknowledged only after the call
// returned. The parent SIGKILLs it at a random, bounded moment, reopens
// the buffer and checks the invariants, then starts the next child, which
// replays the stream from a "snapshot" at or before the last Sync, as the
// FSM does after a restart.

const (
	crashDirEnv   = "TANDEM_BUFFER_CRASH_DIR"
	crashStartEnv = "TANDEM_BUFFER_CRASH_START"
	crashSeedEnv  = "TANDEM_BUFFER_CRASH_SEED"
	crashSyncEnv  = "TANDEM_BUFFER_CRASH_SYNC_EVERY_APPEND"
	crashSegEnv   = "TANDEM_BUFFER_CRASH_SEGMENT_BYTES"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// crashEvents are the stream's events of index i, except that every 128th
// index carries a 128 KiB event, so that writes are large enough for a kill
// to land inside one now and then.
func crashEvents(i uint64) []command.Event {
	evs := indexEvents(i)
	if i%128 == 0 {
		evs[0].Data = fmt.Appendf(nil, `{"i":%d,"big":"%s"}`, i, strings.Repeat(string(rune('a'+i%26)), 128<<10))
	}
	return evs
}

func crashEvent(i uint64, seq int) command.Event { return crashEvents(i)[seq] }

// crashChild is the child's main: it runs until killed (or 30 s).
func crashChild(dir string) int {
	start, _ := strconv.ParseUint(os.Getenv(crashStartEnv), 10, 64)
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	say := func(format string, args ...any) { // one write(2) per line
		os.Stdout.WriteString(fmt.Sprintf(format, args...) + "\n")
	}
	segBytes, _ := strconv.ParseInt(os.Getenv(crashSegEnv), 10, 64)
	b, err := Open(dir, Options{MaxBytes: 1 << 30, SegmentBytes: segBytes, Consumers: both,
		SyncEveryAppend: os.Getenv(crashSyncEnv) == "1"})
	if err != nil {
		say("error open: %v", err)
		return 2
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	cons := []*Consumer{}
	for _, n := range both {
		c, _ := b.Consumer(n)
		cons = append(cons, c)
	}
	say("ready")
	deadline := time.Now().Add(30 * time.Second)
	for i := start; time.Now().Before(deadline); {
		var evs []command.Event
		n := 1 + rng.IntN(20)
		big := rng.IntN(8) == 0
		if big {
			n = 200 + rng.IntN(2000) // a large write(2) a kill may cut short
		}
		for k := n; k > 0; k-- {
			evs = append(evs, crashEvents(i)...)
			i++
		}
		if big {
			say("big")
		}
		if err := b.Append(evs...); err != nil {
			say("error append: %v", err)
			return 3
		}
		if rng.IntN(4) == 0 {
			last := b.Last()
			if err := b.Sync(); err != nil {
				say("error sync: %v", err)
				return 3
			}
			say("synced %d %d", last.Index, last.Seq)
		}
		for k, c := range cons {
			if k == 1 && rng.IntN(6) != 0 { // standby lags behind
				continue
			}
			got, err := c.Read(1 + rng.IntN(300))
			if err != nil {
				say("error read: %v", err)
				return 3
			}
			if len(got) == 0 {
				continue
			}
			p := got[len(got)-1].Pos()
			if err := c.Ack(p); err != nil {
				say("error ack: %v", err)
				return 3
			}
			say("acked %s %d %d", c.Name(), p.Index, p.Seq)
		}
	}
	return 0
}

// crashReport is what the parent learnt from a child's output.
type crashReport struct {
	ready  bool
	synced command.Position
	acked  map[string]command.Position
	errs   []string
}

// readReport collects the child's report; it signals big on each large
// append the child announces.
func readReport(r io.Reader, big chan<- struct{}) crashReport {
	rep := crashReport{acked: map[string]command.Position{}}
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return rep // a line without its newline was cut by the kill
		}
		f := strings.Fields(line)
		num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
		switch {
		case len(f) == 1 && f[0] == "ready":
			rep.ready = true
		case len(f) == 1 && f[0] == "big":
			select {
			case big <- struct{}{}:
			default:
			}
		case len(f) == 3 && f[0] == "synced":
			rep.synced = command.Position{Index: num(f[1]), Seq: int(num(f[2]))}
		case len(f) == 4 && f[0] == "acked":
			rep.acked[f[1]] = command.Position{Index: num(f[2]), Seq: int(num(f[3]))}
		default:
			rep.errs = append(rep.errs, strings.TrimSpace(line))
		}
	}
}

// nextPos is the stream position after p.
func nextPos(p command.Position) command.Position {
	if p.Index == 0 {
		return command.Position{Index: 1}
	}
	if uint64(p.Seq+1) < 1+p.Index%3 {
		return command.Position{Index: p.Index, Seq: p.Seq + 1}
	}
	return command.Position{Index: p.Index + 1}
}

// tearUnsynced simulates a power loss on top of the kill: it cuts the last
// segment at a random point after everything a Sync made durable (the
// record at synced, and meta.json's mark), as the page cache would lose
// it. Consumers may then have acknowledged beyond the buffer's end.
func tearUnsynced(t *testing.T, dir string, synced command.Position, rng *rand.Rand) string {
	t.Helper()
	segs := segFiles(t, dir)
	if len(segs) == 0 {
		return ""
	}
	last := segs[len(segs)-1]
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	var keep int64 // bytes that must survive
	for off := 0; off < len(data); {
		rec, n, err := decodeRecord(data[off:])
		if err != nil {
			break
		}
		off += n
		if !rec.pos.After(synced) {
			keep = int64(off)
		}
	}
	var m metaState
	if _, err := readJSON(dir, metaFile, &m); err != nil {
		t.Fatal(err)
	}
	if m.Synced.Segment == filepath.Base(last) {
		keep = max(keep, m.Synced.Offset)
	}
	size := int64(len(data))
	if keep >= size {
		return ""
	}
	cut := keep + rng.Int64N(size-keep+1)
	if err := os.Truncate(last, cut); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(", power loss cut %d of %d unsynced bytes", size-cut, size-keep)
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TANDEM_BUFFER_CRASH_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set TANDEM_BUFFER_CRASH_TEST_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	dir := t.TempDir()

	const rounds = 16
	var (
		synced  command.Position                // newest position any child reported synced
		cursors = map[string]command.Position{} // newest cursor seen or reported
		start   = uint64(1)
		repairs int
	)
	for round := 0; round < rounds; round++ {
		syncEach := rng.IntN(3) == 0
		// Small segments exercise sealing and reclaiming; large ones
		// give a kill more chances to cut a write(2) short.
		segBytes := []int64{32 << 10, 8 << 20}[rng.IntN(2)]
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(),
			crashDirEnv+"="+dir,
			crashStartEnv+"="+strconv.FormatUint(start, 10),
			crashSeedEnv+"="+strconv.FormatUint(rng.Uint64(), 10),
			crashSyncEnv+"="+map[bool]string{true: "1", false: "0"}[syncEach],
			crashSegEnv+"="+strconv.FormatInt(segBytes, 10))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		reportc := make(chan crashReport, 1)
		bigc := make(chan struct{}, 1)
		go func() { reportc <- readReport(out, bigc) }()
		// Mostly kill a running loop at a random moment; sometimes aim
		// at a large append; sometimes kill during Open.
		var delay time.Duration
		switch mode := rng.IntN(6); {
		case mode == 0:
			delay = time.Duration(rng.IntN(15)) * time.Millisecond
			time.Sleep(delay)
		case mode <= 2:
			select {
			case <-bigc:
			case <-time.After(2 * time.Second):
			}
			delay = time.Duration(rng.IntN(30000)) * time.Microsecond
			time.Sleep(delay)
		default:
			delay = 30*time.Millisecond + time.Duration(rng.IntN(250))*time.Millisecond
			time.Sleep(delay)
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		cmd.Wait()
		rep := <-reportc
		if len(rep.errs) > 0 {
			t.Fatalf("round %d: child reported %q", round, rep.errs)
		}
		if rep.synced.After(synced) {
			synced = rep.synced
		}
		torn := ""
		if rng.IntN(3) == 0 {
			torn = tearUnsynced(t, dir, synced, rng)
		}

		b, err := Open(dir, Options{MaxBytes: 1 << 30, SegmentBytes: 32 << 10, Consumers: both, MaxReadBytes: 256 << 20})
		if err != nil {
			t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
		}
		st := b.Stats()
		if st.RepairedBytes > 0 {
			repairs++
		}
		if synced.After(st.Last) {
			b.Close()
			t.Fatalf("round %d: synced up to %v but the buffer ends at %v", round, synced, st.Last)
		}
		for _, name := range both {
			c := consumerT(t, b, name)
			cur := c.Cursor()
			if a := rep.acked[name]; a.After(cur) {
				b.Close()
				t.Fatalf("round %d: %s acknowledged %v but its cursor reopened at %v", round, name, a, cur)
			}
			if prev := cursors[name]; prev.After(cur) {
				b.Close()
				t.Fatalf("round %d: %s cursor went back from %v to %v", round, name, prev, cur)
			}
			// Everything after the cursor is there exactly once, in
			// order, up to the end of the buffer.
			want := nextPos(cur)
			n := 0
			for {
				evs, err := c.Read(0)
				if err != nil {
					b.Close()
					t.Fatalf("round %d: reading %s: %v", round, name, err)
				}
				if len(evs) == 0 {
					break
				}
				for _, ev := range evs {
					if ev.Pos() != want || !eventsEqual(ev, crashEvent(want.Index, want.Seq)) {
						b.Close()
						t.Fatalf("round %d: %s read %v (%s), want %v", round, name, ev.Pos(), ev.Data, want)
					}
					want = nextPos(want)
					n++
				}
				if round%2 == 0 { // alternate rounds consume what was checked
					if err := c.Ack(evs[len(evs)-1].Pos()); err != nil {
						b.Close()
						t.Fatal(err)
					}
				} else if len(evs) > 0 {
					break // without an ack, Read returns the same batch
				}
			}
			cursors[name] = c.Cursor()
			t.Logf("round %d (kill after %v, sync each append %v, segments of %d bytes%s): %s cursor %v, %d events checked, buffer ends %v, repaired %d bytes",
				round, delay, syncEach, segBytes, torn, name, cursors[name], n, st.Last, st.RepairedBytes)
		}
		last := b.Last()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		// The next child replays from a snapshot at or before the last
		// Sync: up to 40 indexes back.
		back := uint64(rng.IntN(40))
		start = 1
		if synced.Index > back {
			start = synced.Index - back
		}
		if start > last.Index+1 {
			t.Fatalf("replay would start at %d after the buffer's end %v", start, last)
		}
	}
	t.Logf("%d rounds, %d torn tails repaired, synced up to %v", rounds, repairs, synced)
	if synced.Index == 0 {
		t.Fatal("no child ever synced: the test exercised nothing")
	}
}

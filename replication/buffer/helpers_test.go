package buffer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tandemcc/tandem/command"
)

// The tests use one deterministic event stream: index i carries 1+i%3
// events whose content derives from (i, seq), so any event can be rebuilt
// and checked.

var eventTypes = []string{"call.offered", "call.answered", "agent.state", "queue.stats"}

func streamEvent(i uint64, seq int) command.Event {
	return command.Event{
		Index: i, Seq: seq, Type: eventTypes[(int(i)+seq)%len(eventTypes)],
		Time: 1_700_000_000_000_000_000 + int64(i)*1_000_000, CommandID: fmt.Sprintf("cmd-%d", i),
		Data: fmt.Appendf(nil, `{"i":%d,"s":%d,"pad":"%s"}`, i, seq, strings.Repeat("x", int(i*7+uint64(seq))%61)),
	}
}

// indexEvents returns the events of index i.
func indexEvents(i uint64) []command.Event {
	evs := make([]command.Event, 1+i%3)
	for s := range evs {
		evs[s] = streamEvent(i, s)
	}
	return evs
}

// stream returns the events of indexes from..to inclusive.
func stream(from, to uint64) []command.Event {
	var evs []command.Event
	for i := from; i <= to; i++ {
		evs = append(evs, indexEvents(i)...)
	}
	return evs
}

func framed(evs []command.Event) int64 {
	var n int64
	for i := range evs {
		n += int64(len(appendEventFrame(nil, &evs[i])))
	}
	return n
}

func openT(t testing.TB, dir string, opts Options) *Buffer {
	t.Helper()
	b, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func consumerT(t testing.TB, b *Buffer, name string) *Consumer {
	t.Helper()
	c, err := b.Consumer(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func appendT(t testing.TB, b *Buffer, evs ...command.Event) {
	t.Helper()
	if err := b.Append(evs...); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

// peekAll returns everything after the cursor without acknowledging, in
// one Read: the buffer must be opened with MaxReadBytes above its backlog.
func peekAll(t testing.TB, c *Consumer) ([]command.Event, error) {
	t.Helper()
	return c.Read(0)
}

// drain reads and acknowledges everything, returning what it read.
func drain(t testing.TB, c *Consumer, max int) []command.Event {
	t.Helper()
	var all []command.Event
	for {
		evs, err := c.Read(max)
		if err != nil {
			t.Fatalf("Read(%s): %v", c.Name(), err)
		}
		if len(evs) == 0 {
			return all
		}
		all = append(all, evs...)
		if err := c.Ack(evs[len(evs)-1].Pos()); err != nil {
			t.Fatalf("Ack(%s): %v", c.Name(), err)
		}
	}
}

// checkStream verifies that evs is exactly the stream events of indexes
// from..to, in order, once each.
func checkStream(t testing.TB, evs []command.Event, from, to uint64) {
	t.Helper()
	want := stream(from, to)
	if len(evs) != len(want) {
		t.Fatalf("got %d events (%s), want %d (indexes %d..%d)", len(evs), span(evs), len(want), from, to)
	}
	for i := range want {
		if !eventsEqual(evs[i], want[i]) {
			t.Fatalf("event %d: got %v %s, want %v %s", i, evs[i].Pos(), evs[i].Data, want[i].Pos(), want[i].Data)
		}
	}
}

func span(evs []command.Event) string {
	if len(evs) == 0 {
		return "none"
	}
	return fmt.Sprintf("%v..%v", evs[0].Pos(), evs[len(evs)-1].Pos())
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func pos(i uint64, s int) command.Position { return command.Position{Index: i, Seq: s} }

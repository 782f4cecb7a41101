package buffer

import (
	"runtime"
	"testing"
)

// TestMemoryDoesNotGrowWithBufferSize reopens (scanning every segment) and
// drains buffers of 8 and 48 MiB and compares the peak heap: reading goes
// through bounded batches and fixed read buffers, never whole files.
func TestMemoryDoesNotGrowWithBufferSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 56 MiB")
	}
	peak := func(mb int) uint64 {
		dir := t.TempDir()
		opts := Options{MaxBytes: 1 << 30, SegmentBytes: 4 << 20, Consumers: []string{"reporting"}}
		b, err := Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		evs := benchEvents(1, 4096, 400)
		per := framed(evs)
		var next uint64 = 1
		for written := int64(0); written < int64(mb)<<20; written += per {
			for k := range evs {
				evs[k].Index = next
				next++
			}
			appendT(t, b, evs...)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		evs = nil
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base, top := ms.HeapInuse, ms.HeapInuse
		sample := func() {
			runtime.ReadMemStats(&ms)
			top = max(top, ms.HeapInuse)
		}
		b, err = Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		sample()
		c := consumerT(t, b, "reporting")
		got := 0
		for reads := 0; ; reads++ {
			batch, err := c.Read(1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(batch) == 0 {
				break
			}
			got += len(batch)
			if err := c.Ack(batch[len(batch)-1].Pos()); err != nil {
				t.Fatal(err)
			}
			if reads%10 == 0 {
				sample()
			}
		}
		if uint64(got) != next-1 {
			t.Fatalf("drained %d of %d events", got, next-1)
		}
		t.Logf("%d MiB buffered: peak heap %.1f MiB above the start", mb, float64(top-base)/(1<<20))
		return top - base
	}
	small, large := peak(8), peak(48)
	if large > 24<<20 || large > small+8<<20 {
		t.Fatalf("peak heap grew with the buffer: %d MiB → %.1f MiB, 48 MiB → %.1f MiB",
			8, float64(small)/(1<<20), float64(large)/(1<<20))
	}
}

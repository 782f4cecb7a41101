package buffer

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/tandemcc/tandem/command"
)

// benchEvents returns n events of indexes from..., each with about
// dataBytes of JSON data: a typical contact-center event is 200-500 bytes.
func benchEvents(from uint64, n, dataBytes int) []command.Event {
	pad := strings.Repeat("x", max(dataBytes-40, 0))
	evs := make([]command.Event, n)
	for k := range evs {
		i := from + uint64(k)
		evs[k] = command.Event{Index: i, Type: eventTypes[i%4], Time: int64(i) * 1000,
			CommandID: "0f8fad5b-d9cb-469f-a165-70867728950e",
			Data:      fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, pad)}
	}
	return evs
}

// BenchmarkAppend measures append throughput into the page cache in the
// default (group sync) mode, with a Sync every 64 batches as the
// snapshot path would, batches of 64 events as the FSM's ApplyBatch
// publishes them.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{100, 400, 4000} {
		b.Run(fmt.Sprintf("event=%dB", size), func(b *testing.B) {
			benchAppend(b, size, 64, false)
		})
	}
	b.Run("event=400B/sync-every-append", func(b *testing.B) { benchAppend(b, 400, 64, true) })
}

func benchAppend(b *testing.B, size, batch int, syncEach bool) {
	buf := openT(b, b.TempDir(), Options{MaxBytes: 64 << 30, Consumers: both, SyncEveryAppend: syncEach})
	const pool = 1 << 14
	evs := benchEvents(1, pool, size)
	bytes := framed(evs)
	b.ResetTimer()
	var next uint64 = 1
	n := 0
	for b.Loop() {
		// Reuse the prepared events with ever-growing positions.
		for k := range batch {
			e := &evs[(n*batch+k)%pool]
			e.Index = next
			next++
		}
		start := (n * batch) % pool
		if err := buf.Append(evs[start : start+batch]...); err != nil {
			b.Fatal(err)
		}
		n++
		if n%64 == 0 {
			if err := buf.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := buf.Sync(); err != nil {
		b.Fatal(err)
	}
	sec := b.Elapsed().Seconds()
	events := float64(n * batch)
	b.ReportMetric(events/sec, "events/s")
	b.ReportMetric(events*float64(bytes)/float64(pool)/sec/1e6, "MB/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRead measures reopening a full buffer and a consumer reading it
// all in batches of 1000, and reports the peak heap in use and the peak
// live heap (as of the last GC) above the start: they must not grow with
// the amount buffered. (Heap in use also holds garbage awaiting the
// collector, so it varies with GC timing.)
func BenchmarkRead(b *testing.B) {
	for _, mb := range []int{64, 256} {
		b.Run(fmt.Sprintf("buffered=%dMB", mb), func(b *testing.B) {
			dir := b.TempDir()
			opts := Options{MaxBytes: 1 << 30, Consumers: []string{"reporting"}}
			buf := openT(b, dir, opts)
			evs := benchEvents(1, 1<<14, 400)
			per := framed(evs)
			var next uint64 = 1
			for written := int64(0); written < int64(mb)<<20; written += per {
				for k := range evs {
					evs[k].Index = next
					next++
				}
				if err := buf.Append(evs...); err != nil {
					b.Fatal(err)
				}
			}
			if err := buf.Close(); err != nil {
				b.Fatal(err)
			}
			total := float64(next - 1)
			b.ResetTimer()
			var peak, peakLive uint64
			live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				metrics.Read(live)
				base, baseLive := ms.HeapInuse, live[0].Value.Uint64()
				b.StartTimer()
				// Reopen (scans every segment) and drain, as a
				// restarted node would.
				buf, err := Open(dir, opts)
				if err != nil {
					b.Fatal(err)
				}
				c, _ := buf.Consumer("reporting")
				got, reads := 0, 0
				for {
					batch, err := c.Read(1000)
					if err != nil {
						b.Fatal(err)
					}
					if len(batch) == 0 {
						break
					}
					got += len(batch)
					if reads++; reads%20 == 0 {
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse-min(base, ms.HeapInuse))
						metrics.Read(live)
						l := live[0].Value.Uint64()
						peakLive = max(peakLive, l-min(baseLive, l))
					}
					// Acknowledge in memory only: the benchmark
					// measures reading, and must be repeatable.
					buf.mu.Lock()
					c.c.pos, c.c.loc = batch[len(batch)-1].Pos(), c.c.hint.loc
					buf.mu.Unlock()
				}
				if float64(got) != total {
					b.Fatalf("read %d of %.0f events", got, total)
				}
				buf.Close()
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(total/sec, "events/s")
			b.ReportMetric(float64(mb)*(1<<20)/sec/1e6, "MB/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(peakLive)/(1<<20), "peak-live-heap-MB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkAck measures durable cursor writes (one fdatasync each).
func BenchmarkAck(b *testing.B) {
	buf := openT(b, b.TempDir(), Options{MaxBytes: 1 << 30, Consumers: both})
	c := consumerT(b, buf, "reporting")
	var i uint64 = 1
	t0 := time.Now()
	for b.Loop() {
		if err := c.Ack(command.Position{Index: i}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(i-1)/time.Since(t0).Seconds(), "acks/s")
}

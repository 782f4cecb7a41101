package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHistogramExportImport(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * 37 * time.Microsecond)
	}
	b, err := json.Marshal(h.Export())
	if err != nil {
		t.Fatal(err)
	}
	var d HistData
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	g := NewHistogram()
	if err := g.Import(&d); err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0.01, 0.5, 0.99, 1} {
		if g.Quantile(q) != h.Quantile(q) {
			t.Errorf("q=%v: %v after round trip, %v before", q, g.Quantile(q), h.Quantile(q))
		}
	}
	if g.Count() != h.Count() || g.Mean() != h.Mean() || g.Max() != h.Max() {
		t.Errorf("count/mean/max %d/%v/%v, want %d/%v/%v", g.Count(), g.Mean(), g.Max(), h.Count(), h.Mean(), h.Max())
	}
	if NewHistogram().Export() != nil {
		t.Error("an empty histogram exports nil")
	}
	if err := g.Import(&HistData{Buckets: [][2]uint64{{uint64(numBuckets), 1}}}); err == nil {
		t.Error("an out-of-range bucket must be refused")
	}
}

func phase(lat time.Duration, n int, elapsed time.Duration) PhaseResult {
	h := NewHistogram()
	for i := 0; i < n; i++ {
		h.Record(lat)
	}
	return PhaseResult{OK: uint64(n), Elapsed: elapsed, Hist: h}
}

func TestMergeReports(t *testing.T) {
	c := Config{Target: "tandem", Payload: 256, Concurrency: 64}
	a := makeReport(c, "http://a", "call.note", PhaseResult{}, phase(2*time.Millisecond, 300, time.Second))
	b := makeReport(c, "http://b", "call.note", PhaseResult{}, phase(10*time.Millisecond, 100, time.Second))
	m, err := mergeReports([]Report{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if m.Ops != 400 || m.DurationS != 2 || m.OpsPerS != 200 || m.Runs != 2 {
		t.Fatalf("merged %+v", m)
	}
	if m.P50Ms < 2 || m.P50Ms > 2.02 || m.P99Ms < 10 || m.P99Ms > 10.1 || m.Endpoint != "http://a http://b" || m.Op != "call.note" {
		t.Fatalf("merged quantiles/endpoint %+v", m)
	}
	c2 := c
	c2.Concurrency = 8
	if _, err := mergeReports([]Report{a, makeReport(c2, "x", "call.note", PhaseResult{}, phase(time.Millisecond, 1, time.Second))}); err == nil {
		t.Fatal("reports of different concurrency must not merge")
	}
	if _, err := mergeReports([]Report{a, makeReport(c, "x", "noop", PhaseResult{}, phase(time.Millisecond, 1, time.Second))}); err == nil {
		t.Fatal("reports of different operations must not merge")
	}
	if _, err := mergeReports(nil); err == nil {
		t.Fatal("nothing to merge must fail")
	}
	a.Hist = nil
	if _, err := mergeReports([]Report{a}); err == nil {
		t.Fatal("a report without histogram must not merge")
	}
}

func TestMergeSubcommand(t *testing.T) {
	dir := t.TempDir()
	c := Config{Target: "etcd", Payload: 64, Concurrency: 4}
	var files []string
	for i, lat := range []time.Duration{time.Millisecond, 3 * time.Millisecond} {
		line, _ := json.Marshal(makeReport(c, "127.0.0.1:2379", "put", PhaseResult{}, phase(lat, 50, time.Second)))
		f := filepath.Join(dir, string(rune('a'+i))+".json")
		os.WriteFile(f, append(line, '\n'), 0o600)
		files = append(files, f)
	}
	var out, errb bytes.Buffer
	if code := run(append([]string{"merge"}, files...), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, k := range []string{`"target":"etcd"`, `"ops":100`, `"ops_per_s":50`, `"runs":2`, `"endpoint":"127.0.0.1:2379"`, `"op":"put"`} {
		if !strings.Contains(out.String(), k) {
			t.Errorf("merged line %q lacks %s", out.String(), k)
		}
	}
	if code := run([]string{"merge"}, &out, &errb); code != 2 {
		t.Errorf("merge without files: exit %d", code)
	}
	if code := run([]string{"merge", filepath.Join(dir, "missing.json")}, &out, &errb); code != 1 {
		t.Errorf("merge of a missing file: exit %d", code)
	}
}

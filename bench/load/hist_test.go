package main

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestBucketIndexRoundTrip(t *testing.T) {
	// Every value must land in a bucket whose upper bound is >= the value
	// and within the precision promised (1/subCount relative).
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []int64{0, 1, 2, 127, 128, 255, 256, 257, 511, 512, 1000, 1 << 20, math.MaxInt64}
	for i := 0; i < 10000; i++ {
		vals = append(vals, rng.Int64N(int64(time.Minute)))
	}
	prev := -1
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, v := range vals {
		i := bucketIndex(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("value %d: index %d out of range", v, i)
		}
		if i < prev {
			t.Fatalf("value %d: index %d not monotonic (prev %d)", v, i, prev)
		}
		prev = i
		up := bucketUpper(i)
		if up < v {
			t.Fatalf("value %d: bucket %d upper %d below value", v, i, up)
		}
		if v > 0 && float64(up-v)/float64(v) > 1.0/subCount {
			t.Fatalf("value %d: bucket %d upper %d too coarse", v, i, up)
		}
		if i > 0 && bucketUpper(i-1) >= v {
			t.Fatalf("value %d: previous bucket %d upper %d already covers it", v, i-1, bucketUpper(i-1))
		}
	}
}

func TestQuantileMatchesSortedSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var samples []time.Duration
	h := NewHistogram()
	for i := 0; i < 50000; i++ {
		// Log-normal-ish latencies between ~100µs and ~1s.
		d := time.Duration(math.Exp(rng.NormFloat64()*1.2+math.Log(2e6))) + 100*time.Microsecond
		samples = append(samples, d)
		h.Record(d)
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(math.Ceil(q*float64(len(samples)))) - 1
		want := samples[rank]
		got := h.Quantile(q)
		if got < want || float64(got-want)/float64(want) > 1.0/subCount {
			t.Errorf("q=%v: got %v, want %v (within %.2f%%)", q, got, want, 100.0/subCount)
		}
	}
	if h.Quantile(1) != samples[len(samples)-1] || h.Max() != samples[len(samples)-1] {
		t.Errorf("max: got %v/%v, want %v", h.Quantile(1), h.Max(), samples[len(samples)-1])
	}
	if h.Count() != uint64(len(samples)) {
		t.Errorf("count %d", h.Count())
	}
}

func TestQuantileSmallExact(t *testing.T) {
	h := NewHistogram()
	for _, ms := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 100} {
		h.Record(time.Duration(ms) * time.Millisecond)
	}
	check := func(q float64, want time.Duration) {
		t.Helper()
		got := h.Quantile(q)
		if got < want || float64(got-want)/float64(want) > 1.0/subCount {
			t.Errorf("q=%v: got %v, want ~%v", q, got, want)
		}
	}
	check(0.5, 5*time.Millisecond)
	check(0.9, 9*time.Millisecond)
	check(0.99, 100*time.Millisecond)
	if got := h.Mean(); got != 14500*time.Microsecond {
		t.Errorf("mean %v", got)
	}
}

func TestHistogramEmptyAndMerge(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	if a.Quantile(0.5) != 0 || a.Max() != 0 || a.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	for i := 1; i <= 100; i++ {
		a.Record(time.Duration(i) * time.Microsecond)
		b.Record(time.Duration(100+i) * time.Microsecond)
	}
	a.Merge(b)
	a.Merge(NewHistogram())
	if a.Count() != 200 {
		t.Fatalf("count %d", a.Count())
	}
	if got := a.Quantile(0.5); got < 100*time.Microsecond || got > 101*time.Microsecond {
		t.Errorf("p50 %v", got)
	}
	if a.Max() != 200*time.Microsecond {
		t.Errorf("max %v", a.Max())
	}
}

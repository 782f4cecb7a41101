package main

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Histogram is a log-linear latency histogram (HDR style) over nanoseconds.
// Values below 2^(subBits+1) ns are stored exactly; above that each power of
// two is split into 2^subBits equal buckets, so any reported value is within
// 1/2^subBits (< 0.8 %) of the true one. It is not safe for concurrent use:
// give each worker its own and Merge them at the end.
type Histogram struct {
	counts []uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

const (
	subBits    = 7
	subCount   = 1 << subBits                  // 128 sub-buckets per power of two
	numBuckets = (64 - subBits + 1) * subCount // covers every non-negative int64
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, numBuckets), min: math.MaxInt64}
}

func bucketIndex(v int64) int {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	l := bits.Len64(u)
	if l <= subBits+1 {
		return int(u)
	}
	shift := l - subBits - 1
	top := u >> uint(shift) // in [subCount, 2*subCount)
	return (shift+1)*subCount + int(top-subCount)
}

// bucketUpper is the largest value that maps to bucket i.
func bucketUpper(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	shift := i/subCount - 1
	top := uint64(i%subCount + subCount)
	hi := ((top + 1) << uint(shift)) - 1
	if hi > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(hi)
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketIndex(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds every observation of o into h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest observation (0 when empty).
func (h *Histogram) Max() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Mean is the average observation (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 < q <= 1) using the nearest-rank
// method: the smallest recorded value v such that at least q*n observations
// are <= v, reported as its bucket's upper bound clamped to [min, max].
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q > 1 {
		q = 1
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			v := bucketUpper(i)
			if v > h.max {
				v = h.max
			}
			if v < h.min {
				v = h.min
			}
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// HistData is a histogram in a compact, mergeable form: the non-empty
// buckets as [index, count] pairs plus the exact sum, min and max.
type HistData struct {
	Buckets [][2]uint64 `json:"buckets"`
	SumNs   float64     `json:"sum_ns"`
	MinNs   int64       `json:"min_ns"`
	MaxNs   int64       `json:"max_ns"`
}

// Export returns h's data (nil when empty).
func (h *Histogram) Export() *HistData {
	if h.n == 0 {
		return nil
	}
	d := &HistData{SumNs: h.sum, MinNs: h.min, MaxNs: h.max}
	for i, c := range h.counts {
		if c > 0 {
			d.Buckets = append(d.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return d
}

// Import adds exported data to h.
func (h *Histogram) Import(d *HistData) error {
	if d == nil {
		return nil
	}
	o := NewHistogram()
	for _, b := range d.Buckets {
		if b[0] >= uint64(len(o.counts)) {
			return fmt.Errorf("histogram bucket %d out of range", b[0])
		}
		o.counts[b[0]] += b[1]
		o.n += b[1]
	}
	if o.n == 0 {
		return nil
	}
	o.sum, o.min, o.max = d.SumNs, d.MinNs, d.MaxNs
	h.Merge(o)
	return nil
}

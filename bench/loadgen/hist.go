package loadgen

import (
	"math/bits"
	"time"
)

// Histogram counts durations in microseconds with log-linear buckets: exact
// below 128 µs, then 64 buckets per power of two (relative error < 1.6%).
// It is not safe for concurrent use: each worker owns one and they are
// merged at the end.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64
	max    uint64
}

const (
	histSubBits = 7
	histLinear  = 1 << histSubBits // 128 exact buckets
	histHalf    = histLinear / 2   // 64 buckets per octave
	histBuckets = histLinear + 40*histHalf
)

func histIndex(v uint64) int {
	if v < histLinear {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits // ≥ 1
	i := histLinear + (shift-1)*histHalf + int(v>>uint(shift)) - histHalf
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histLow returns the smallest value that maps to bucket i.
func histLow(i int) uint64 {
	if i < histLinear {
		return uint64(i)
	}
	shift := (i-histLinear)/histHalf + 1
	m := uint64((i-histLinear)%histHalf + histHalf)
	return m << uint(shift)
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d.Microseconds(), 0))
	h.counts[histIndex(v)]++
	h.n++
	h.sum += v
	h.max = max(h.max, v)
}

// Merge adds o's counts into h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the value at quantile q (0..1) in microseconds: the
// lower bound of the bucket holding it, or the exact maximum for q = 1.
func (h *Histogram) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(q*float64(h.n-1)) + 1
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histLow(i), h.max)
		}
	}
	return h.max
}

// Summary converts h into milliseconds for reports.
func (h *Histogram) Summary() Latency {
	ms := func(us uint64) float64 { return float64(us) / 1000 }
	l := Latency{P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)), Max: ms(h.max)}
	if h.n > 0 {
		l.Mean = float64(h.sum) / float64(h.n) / 1000
	}
	return l
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

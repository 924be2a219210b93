package loadgen

import (
	"testing"
	"time"
)

func TestHistIndexBoundsAndError(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<22; v += 1 + v/1000 {
		i := histIndex(v)
		if i < prev {
			t.Fatalf("index not monotonic at %d", v)
		}
		prev = i
		lo := histLow(i)
		if lo > v || (v > 0 && float64(v-lo)/float64(v) > 1.0/64) {
			t.Fatalf("v=%d bucket %d low %d", v, i, lo)
		}
	}
	if i := histIndex(1 << 62); i != histBuckets-1 {
		t.Fatalf("huge value index %d", i)
	}
}

func TestQuantiles(t *testing.T) {
	var a, b Histogram
	for i := 1; i <= 1000; i++ {
		a.Record(time.Duration(i) * time.Microsecond)
	}
	b.Record(5 * time.Second)
	a.Merge(&b)
	f := func(q float64, want uint64) {
		t.Helper()
		got := a.Quantile(q)
		if got > want || float64(want-got) > float64(want)/60 {
			t.Errorf("q%.3f: got %d want ~%d", q, got, want)
		}
	}
	f(0.5, 501)
	f(0.99, 991)
	f(1, 5_000_000)
	if a.Count() != 1001 {
		t.Errorf("count %d", a.Count())
	}
	if s := a.Summary(); s.Max != 5000 || s.P50 < 0.49 || s.P50 > 0.51 {
		t.Errorf("summary %+v", s)
	}
}

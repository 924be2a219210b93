package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
)

// gc_heap_floor: the collector runs only once at least the floor has been
// allocated since the last cycle (or GOGC's share of the live heap, when
// that is more). With Go's defaults alone, a proxy whose live heap is a
// few MiB (a busy edge with few connections held open) collects after
// every few MiB it allocates, and each cycle's fixed cost (mark workers
// woken on both Ps, stacks and globals scanned, the sweep) is paid a few
// hundred times a second: measured at 10-13% of a plaintext login's CPU
// (bench/RESULTS.md, issue 13, "A floor under the GC's heap goal"). Once
// the live heap is larger than the floor (thousands of held connections),
// GOGC's percentage is the larger term and nothing changes, so the idle
// memory per connection is what GOGC gives. GOMEMLIMIT still caps the
// heap: the runtime honours the limit whatever the percentage says.
//
// Go has no floor setting, so this sets the GC percentage after each
// cycle from the live heap that cycle found (debug.SetGCPercent, which
// takes the heap lock and no stop-the-world). It runs on the finalizer
// goroutine, woken once per cycle by a sentinel object's finalizer.

// gcMinHeap is the runtime's smallest heap goal at GOGC=100 (4 MiB,
// runtime.defaultHeapMinimum, scaled by the percentage): below it, the
// goal comes from that minimum rather than from the live heap.
const gcMinHeap = 4 << 20

// gcMaxPercent bounds the percentage set for a tiny live heap.
const gcMaxPercent = 100000

// gcPercentFor returns the GC percentage that gives a heap goal of at
// least live + floor (and at least floor while live is below the runtime's
// minimum), or base when base gives more.
func gcPercentFor(live uint64, floor uint64, base int) int {
	l := max(live, gcMinHeap)
	p := (floor*100 + l - 1) / l
	if p > gcMaxPercent {
		p = gcMaxPercent
	}
	return max(int(p), base)
}

// gcFloor is the tuner's state; only the finalizer goroutine touches it
// after start.
type gcFloor struct {
	floor  uint64
	base   int
	pct    int
	sample []metrics.Sample
	set    func(int) int // debug.SetGCPercent; a test's recorder
}

type gcSentinel struct{ _ *int } // a pointer, so it is not a tiny allocation

var gcFloorOnce sync.Once

// startGCFloor applies gc_heap_floor (bytes; 0 = off) for the process's
// life. GOGC=off in the environment turns it off too: the operator chose
// no collection by percentage at all.
func startGCFloor(floor int) {
	if floor <= 0 {
		return
	}
	base := 100
	if v := os.Getenv("GOGC"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return // "off", or a value the runtime ignores too
		}
		base = n
	}
	gcFloorOnce.Do(func() {
		g := &gcFloor{
			floor:  uint64(floor),
			base:   base,
			pct:    base,
			sample: gcLiveSample(),
			set:    debug.SetGCPercent,
		}
		g.adjust()
		g.arm()
	})
}

// gcLiveSample is the runtime metric the tuner reads: the heap the last
// cycle marked live.
func gcLiveSample() []metrics.Sample {
	return []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
}

// adjust sets the percentage from the live heap of the last cycle.
func (g *gcFloor) adjust() {
	metrics.Read(g.sample)
	var live uint64
	if g.sample[0].Value.Kind() == metrics.KindUint64 {
		live = g.sample[0].Value.Uint64()
	}
	if p := gcPercentFor(live, g.floor, g.base); p != g.pct {
		g.set(p)
		g.pct = p
	}
}

// arm leaves a sentinel for the next cycle to find unreachable; its
// finalizer adjusts and arms again.
func (g *gcFloor) arm() {
	s := &gcSentinel{}
	runtime.SetFinalizer(s, func(*gcSentinel) {
		g.adjust()
		g.arm()
	})
}

package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// gc_heap_floor: while the proxy allocates fast (logins flowing), the
// collector runs only once at least the floor has been allocated since
// the last cycle (or GOGC's share of the live heap, when that is more).
// With Go's defaults alone, a proxy whose live heap is a few MiB (a busy
// edge with few connections held open) collects after every few MiB it
// allocates, and each cycle's fixed cost (mark workers woken on both Ps,
// stacks and globals scanned, the sweep) is paid hundreds of times a
// second: measured at 10-20% of a TLS login's CPU, nothing measurable for
// plaintext logins (bench/RESULTS.md, issue 13, section 7). Once the live
// heap is larger than the floor (thousands of held connections), GOGC's
// percentage is the larger term and nothing changes. GOMEMLIMIT still
// caps the heap: the runtime honours the limit whatever the percentage.
//
// When the proxy goes quiet (less than an eighth of the floor allocated
// per second, for a second), the goal goes back to GOGC's and what the
// last burst left on the heap is collected and returned to the OS, so
// held idle connections cost what GOGC gives, not that plus the floor.
// The process starts busy (configuration, certificates, the first
// connections).
//
// Go has no floor setting, so this sets the GC percentage after each
// cycle from the live heap that cycle found (debug.SetGCPercent, which
// takes the heap lock and no stop-the-world). It runs on the finalizer
// goroutine, woken once per cycle by a sentinel object's finalizer; a
// ticker goroutine watches the allocation rate.

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

// The allocation-rate watch: every gcQuietTick, quiet when less than
// floor/8 per second was allocated in each of the last gcQuietTicks ticks.
const (
	gcQuietTick  = 500 * time.Millisecond
	gcQuietTicks = 2
	// gcReleaseEvery bounds the forced collections of going quiet, for a
	// load that hovers at the threshold. One costs a few ms of CPU (it
	// happens only while the live heap is under the floor) plus the page
	// faults of the next burst: under 1% of a core at this rate. The start
	// counts as a burst (the process goes quiet a second after it), so a
	// longer bound would keep the first real burst's memory.
	gcReleaseEvery = 5 * time.Second
)

// gcFloor is the tuner's state, shared by the finalizer goroutine and the
// rate watch.
type gcFloor struct {
	mu     sync.Mutex
	floor  uint64
	base   int
	pct    int
	quiet  bool
	calm   int       // consecutive quiet ticks
	allocs uint64    // /gc/heap/allocs:bytes at the last tick
	at     time.Time // the last tick
	freed  time.Time
	now    func() time.Time // time.Now; a test's clock
	read   func() uint64    // /gc/heap/allocs:bytes; a test's counter
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
			now:    time.Now,
			read:   gcAllocsReader(),
		}
		g.allocs, g.at = g.read(), g.now()
		g.adjust()
		g.arm()
		go g.watch()
	})
}

// gcLiveSample is the runtime metric the tuner reads: the heap the last
// cycle marked live.
func gcLiveSample() []metrics.Sample {
	return []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
}

// gcAllocsReader returns a function reading the bytes allocated since
// start; it reuses one metrics sample, so one goroutine at a time.
func gcAllocsReader() func() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	return func() uint64 {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[0].Value.Uint64()
	}
}

// adjust sets the percentage from the live heap of the last cycle, or
// GOGC's while quiet. A cycle while quiet checks the allocation rate since
// the last tick, so a burst of logins after a quiet spell gets the floor
// from its first cycles, not from the next tick (at GOGC's goal alone a
// TLS login load runs a cycle every 15 ms).
func (g *gcFloor) adjust() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.quiet && g.read != nil {
		now := g.now()
		if d := now.Sub(g.at); d >= 10*time.Millisecond && g.fast(g.read()-g.allocs, d) {
			g.quiet = false
			g.calm = 0
		}
	}
	g.adjustLocked()
}

// fast says whether bytes allocated in d is at least the busy rate, an
// eighth of the floor per second.
func (g *gcFloor) fast(bytes uint64, d time.Duration) bool {
	return float64(bytes) >= float64(g.floor/8)*d.Seconds()
}

func (g *gcFloor) adjustLocked() {
	p := g.base
	if !g.quiet {
		metrics.Read(g.sample)
		var live uint64
		if g.sample[0].Value.Kind() == metrics.KindUint64 {
			live = g.sample[0].Value.Uint64()
		}
		p = gcPercentFor(live, g.floor, g.base)
	}
	if p != g.pct {
		g.set(p)
		g.pct = p
	}
}

// tick takes the cumulative bytes allocated, one gcQuietTick after the
// last call, and switches between busy and quiet. It reports whether the
// proxy just went quiet while the floor was raising the goal (and no
// release in the last gcReleaseEvery): the caller then returns the
// burst's memory (debug.FreeOSMemory).
func (g *gcFloor) tick(allocs uint64, now time.Time) (release bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	busy := g.fast(allocs-g.allocs, gcQuietTick)
	g.allocs, g.at = allocs, now
	switch {
	case busy:
		g.calm = 0
		if g.quiet {
			g.quiet = false
			g.adjustLocked()
		}
	case !g.quiet:
		g.calm++
		if g.calm >= gcQuietTicks {
			raised := g.pct != g.base
			g.quiet = true
			g.adjustLocked()
			if raised && (g.freed.IsZero() || now.Sub(g.freed) >= gcReleaseEvery) {
				g.freed = now
				return true
			}
		}
	}
	return false
}

// watch runs tick every gcQuietTick for the process's life.
func (g *gcFloor) watch() {
	read := gcAllocsReader() // its own sample: adjust reads g.read under g.mu
	t := time.NewTicker(gcQuietTick)
	for now := range t.C {
		if g.tick(read(), now) {
			debug.FreeOSMemory()
		}
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

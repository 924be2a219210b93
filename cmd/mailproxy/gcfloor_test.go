package main

import (
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	f := func(live uint64, floor uint64, base, want int) {
		t.Helper()
		if got := gcPercentFor(live, floor, base); got != want {
			t.Errorf("live %d MiB, floor %d MiB, GOGC %d: got %d, want %d", live/mib, floor/mib, base, got, want)
		}
	}
	f(0, 32*mib, 100, 800)         // no cycle yet: the runtime's 4 MiB minimum × 8
	f(2*mib, 32*mib, 100, 800)     // below the minimum: the same
	f(8*mib, 32*mib, 100, 400)     // goal 8 + 32 MiB
	f(16*mib, 32*mib, 100, 200)    // goal 16 + 32
	f(32*mib, 32*mib, 100, 100)    // GOGC's share is as much: GOGC
	f(100*mib, 32*mib, 100, 100)   // thousands of connections: GOGC alone
	f(100*mib, 32*mib, 50, 50)     // an operator's GOGC below 100 stays
	f(10*mib, 32*mib, 400, 400)    // and one above the floor's share too
	f(5*mib, 32*mib, 100, 640)     // 5 + 32 MiB
	f(1, 1<<50, 100, gcMaxPercent) // capped
	f(33*mib+1, 32*mib, 100, 100)  // rounding never goes under GOGC
	f(7*mib, 7*mib+1, 100, 101)    // rounded up
}

// TestGCFloorAdjustSetsOnlyChanges: the tuner sets the percentage when it
// changes, from the live heap the runtime reports.
func TestGCFloorAdjustSetsOnlyChanges(t *testing.T) {
	var set []int
	g := &gcFloor{floor: 1 << 40, base: 100, pct: 100, set: func(p int) int { set = append(set, p); return 0 }}
	g.sample = gcLiveSample()
	g.adjust()
	g.adjust()
	if len(set) != 1 || set[0] <= 100 {
		t.Fatalf("a 1 TiB floor set %v, want one percentage over 100", set)
	}
	g.floor = 1
	g.adjust()
	if len(set) != 2 || set[1] != 100 {
		t.Fatalf("a 1-byte floor set %v, want back to GOGC (100)", set)
	}
}

// tickSteps returns a function that gives g's rate watch one tick with
// bytes allocated since the last one, on a clock the test can move on
// (*now), and reports whether the tick asked for a release.
func tickSteps(g *gcFloor) (step func(bytes uint64) bool, now *time.Time) {
	t := time.Unix(1000, 0)
	var allocs uint64
	return func(bytes uint64) bool {
		t = t.Add(gcQuietTick)
		allocs += bytes
		return g.tick(allocs, t)
	}, &t
}

// TestGCFloorQuietGoesBackToGOGC: the floor holds while the proxy
// allocates fast; two quiet ticks put GOGC back and ask once for the
// burst's memory to be returned; allocation again brings the floor back.
func TestGCFloorQuietGoesBackToGOGC(t *testing.T) {
	const mib = 1 << 20
	var set []int
	g := &gcFloor{floor: 32 * mib, base: 100, pct: 100, set: func(p int) int { set = append(set, p); return 0 }}
	g.sample = gcLiveSample()
	g.adjust() // this test process's live heap is well under 32 MiB
	if g.pct <= 100 {
		t.Fatalf("busy: percentage %d, want the floor's (over 100)", g.pct)
	}
	floorPct := g.pct
	step, now := tickSteps(g)
	if step(10*mib) || step(3*mib) {
		t.Fatal("released while allocating 6 MiB/s and more")
	}
	if g.pct != floorPct {
		t.Fatalf("busy: percentage %d, want %d", g.pct, floorPct)
	}
	if step(1 * mib) {
		t.Fatal("released after one quiet tick")
	}
	if !step(0) {
		t.Fatal("two quiet ticks: no release")
	}
	if g.pct != 100 {
		t.Fatalf("quiet: percentage %d, want GOGC's 100", g.pct)
	}
	g.adjust() // a GC cycle while quiet keeps GOGC
	if g.pct != 100 || step(0) {
		t.Fatalf("still quiet: percentage %d (want 100), or a second release", g.pct)
	}
	step(20 * mib)
	if g.pct != floorPct {
		t.Fatalf("busy again: percentage %d, want the floor's %d", g.pct, floorPct)
	}
	// Quiet again within gcReleaseEvery: GOGC, no second forced release.
	step(0)
	if step(0) || g.pct != 100 {
		t.Fatalf("quiet again soon after: percentage %d, want 100 and no release", g.pct)
	}
	step(20 * mib)
	*now = now.Add(gcReleaseEvery)
	step(0)
	if !step(0) {
		t.Fatal("quiet again after gcReleaseEvery: no release")
	}
}

// TestGCFloorQuietWithoutFloorReleasesNothing: with a live heap over the
// floor the percentage is GOGC's already, and going quiet forces nothing.
func TestGCFloorQuietWithoutFloorReleasesNothing(t *testing.T) {
	g := &gcFloor{floor: 1, base: 100, pct: 100, set: func(p int) int { return 0 }}
	g.sample = gcLiveSample()
	now := time.Unix(1000, 0)
	for i := 0; i < 4; i++ {
		now = now.Add(gcQuietTick)
		if g.tick(0, now) {
			t.Fatal("released though the floor never raised the goal")
		}
	}
}

// TestGCFloorCycleWhileQuietSeesABurst: a GC cycle during a quiet spell
// that finds the allocation rate back over the threshold brings the floor
// back at once, without waiting for the next tick.
func TestGCFloorCycleWhileQuietSeesABurst(t *testing.T) {
	const mib = 1 << 20
	now := time.Unix(1000, 0)
	var allocs uint64
	g := &gcFloor{floor: 32 * mib, base: 100, pct: 100, set: func(p int) int { return 0 },
		now: func() time.Time { return now }, read: func() uint64 { return allocs }}
	g.sample = gcLiveSample()
	g.adjust()
	floorPct := g.pct
	for i := 0; i < gcQuietTicks; i++ {
		now = now.Add(gcQuietTick)
		g.tick(allocs, now)
	}
	if g.pct != 100 {
		t.Fatalf("quiet: percentage %d, want 100", g.pct)
	}
	now = now.Add(100 * time.Millisecond)
	allocs += 256 << 10 // 2.5 MiB/s: under 4 MiB/s
	g.adjust()
	if g.pct != 100 {
		t.Fatalf("a slow trickle: percentage %d, want 100", g.pct)
	}
	now = now.Add(50 * time.Millisecond)
	allocs += 4 * mib // 4.25 MiB in 150 ms
	g.adjust()
	if g.pct != floorPct {
		t.Fatalf("a burst seen by a cycle: percentage %d, want the floor's %d", g.pct, floorPct)
	}
}

// TestGCFloorStartDoesNotKeepFirstBurst: the process goes quiet a second
// after it starts (a release of the start's garbage); a burst of logins
// a few seconds later (the bench's first 4-second run) must still be
// returned when it ends. With one release per 30 s it was kept.
func TestGCFloorStartDoesNotKeepFirstBurst(t *testing.T) {
	const mib = 1 << 20
	g := &gcFloor{floor: 32 * mib, base: 100, pct: 100, set: func(p int) int { return 0 }}
	g.sample = gcLiveSample()
	g.adjust() // starts busy
	step, _ := tickSteps(g)
	step(0)
	if !step(0) {
		t.Fatal("quiet a second after the start: no release")
	}
	for i := 0; i < 4; i++ { // 2 s quiet, as the load generator starts
		step(0)
	}
	for i := 0; i < 8; i++ { // 4 s of TLS logins, 30 MiB per tick
		step(30 * mib)
	}
	step(0)
	if !step(0) {
		t.Fatal("a 4-second burst starting 3 s after the start was not returned to the OS")
	}
}

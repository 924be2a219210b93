package main

import "testing"

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

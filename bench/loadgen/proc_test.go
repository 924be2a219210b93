package loadgen

import (
	"os"
	"testing"
)

func TestSampleTreeSeesSelf(t *testing.T) {
	s := SampleTree([]int{os.Getpid()}, true)
	if s.Procs < 1 || s.RSS <= 0 {
		t.Fatalf("sample %+v", s)
	}
	if s.PSS <= 0 {
		t.Logf("no smaps_rollup here: %+v", s)
	}
	if kernelSlab() <= 0 {
		t.Errorf("no Slab in /proc/meminfo")
	}
	if m := SampleMachine(); m.Total == 0 {
		t.Errorf("no /proc/stat totals")
	}
	if got := SampleTree(nil, true); got.Procs != 0 {
		t.Errorf("empty roots gave %+v", got)
	}
}

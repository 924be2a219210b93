package loadgen

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// procTick is USER_HZ, the unit of utime/stime in /proc/PID/stat; it is
// 100 on every Linux ABI Go supports.
const procTick = 10 * time.Millisecond

// TreeSample is the CPU and memory of a process tree at one moment.
type TreeSample struct {
	Procs int           // processes in the tree
	CPU   time.Duration // utime+stime summed over the tree
	RSS   int64         // VmRSS summed, bytes (shared pages counted per process)
	PSS   int64         // Pss from smaps_rollup summed, bytes (0 if unreadable)
}

// SampleTree measures roots and all their descendants. withMem adds the
// memory figures, which cost a read of smaps_rollup per process.
func SampleTree(roots []int, withMem bool) TreeSample {
	var s TreeSample
	for _, pid := range procTree(roots) {
		cpu, ok := procCPU(pid)
		if !ok {
			continue
		}
		s.Procs++
		s.CPU += cpu
		if withMem {
			s.RSS += procStatusKB(pid, "VmRSS:") * 1024
			s.PSS += procRollupKB(pid, "Pss:") * 1024
		}
	}
	return s
}

// procTree returns roots plus every process whose parent chain reaches one
// of them.
func procTree(roots []int) []int {
	if len(roots) == 0 {
		return nil
	}
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := procPPID(pid); ok {
			children[pp] = append(children[pp], pid)
		}
	}
	var out []int
	seen := map[int]bool{}
	queue := append([]int(nil), roots...)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

// procStatFields returns the fields of /proc/PID/stat after the command
// name (field 3 onwards), which may itself contain spaces and parentheses.
func procStatFields(pid int) [][]byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return nil
	}
	return bytes.Fields(b[i+2:])
}

func procPPID(pid int) (int, bool) {
	f := procStatFields(pid)
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(string(f[1]))
	return pp, err == nil
}

// procCPU returns utime+stime (fields 14 and 15 of stat).
func procCPU(pid int) (time.Duration, bool) {
	f := procStatFields(pid)
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	s, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * procTick, true
}

func procStatusKB(pid int, key string) int64 {
	return procKeyKB("/proc/"+strconv.Itoa(pid)+"/status", key)
}

func procRollupKB(pid int, key string) int64 {
	return procKeyKB("/proc/"+strconv.Itoa(pid)+"/smaps_rollup", key)
}

// procKeyKB reads "Key:   123 kB" from a /proc file.
func procKeyKB(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	i := bytes.Index(b, []byte("\n"+key))
	if i < 0 {
		if !bytes.HasPrefix(b, []byte(key)) {
			return 0
		}
		i = -1
	}
	rest := b[i+1+len(key):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	f := bytes.Fields(rest)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return n
}

// MachineCPU is the aggregate line of /proc/stat, in ticks.
type MachineCPU struct{ Busy, Total uint64 }

// SampleMachine reads /proc/stat.
func SampleMachine() MachineCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return MachineCPU{}
	}
	line := b
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		line = b[:i]
	}
	f := bytes.Fields(line)
	var m MachineCPU
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(string(v), 10, 64)
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		m.Total += n
		if i != 3 && i != 4 { // idle, iowait
			m.Busy += n
		}
	}
	return m
}

// BusyPct returns the busy share between two samples, in percent of all
// CPUs.
func (m MachineCPU) BusyPct(later MachineCPU) float64 {
	if later.Total <= m.Total {
		return 0
	}
	return 100 * float64(later.Busy-m.Busy) / float64(later.Total-m.Total)
}

// selfCPU returns this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// kernelSlab returns the Slab figure of /proc/meminfo in bytes: socket
// buffers and struct sock live there, outside any process's RSS.
func kernelSlab() int64 {
	return procKeyKB("/proc/meminfo", "Slab:") * 1024
}

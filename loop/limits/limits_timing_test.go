package limits

import (
	"net/netip"
	"runtime"
	"testing"
)

// BenchmarkTrackedKeyMemory reports the heap each tracked address costs in
// a full table (bytes/key), and the cost of one admission and one failure.
func BenchmarkTrackedKeyMemory(b *testing.B) {
	b.ReportAllocs()
	const size = 200000
	p := failPolicy()
	p.Rate, p.Burst = 10, 10
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := New(size)
	for i := range size {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.AuthFailed(p, a, nil, 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / float64(l.hot.n.Load())
	b.ResetTimer()
	for i := range b.N {
		a := netip.AddrFrom4([4]byte{12, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Admit(p, a, false, nil, int64(i))
		l.AuthFailed(p, a, []byte("user"), int64(i))
	}
	b.StopTimer()
	b.ReportMetric(perKey, "bytes/key")
	runtime.KeepAlive(l)
}

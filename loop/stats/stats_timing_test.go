package stats

import (
	"io"
	"sync/atomic"
	"testing"
)

// Each parallel goroutine plays one event loop and updates its own shard,
// as the engine does: the result shows the per-call cost without cross-core
// contention, and no allocations.
func BenchmarkListenerStatsBytes(b *testing.B) {
	s := NewListenerStats("imap", "127.0.0.1:30143", 64)
	defer s.Unregister()
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		loop := int(next.Add(1)-1) % 64
		for pb.Next() {
			s.Bytes(loop, true, 512)
		}
	})
}

func BenchmarkListenerStatsInvalidCommand(b *testing.B) {
	s := NewListenerStats("imap", "127.0.0.1:30144", 64)
	defer s.Unregister()
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		loop := int(next.Add(1)-1) % 64
		for pb.Next() {
			s.InvalidCommand(loop)
		}
	})
}

// All goroutines on one shard: the cost the sharding avoids.
func BenchmarkListenerStatsBytesSharedShard(b *testing.B) {
	s := NewListenerStats("imap", "127.0.0.1:30145", 1)
	defer s.Unregister()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Bytes(0, false, 512)
		}
	})
}

func BenchmarkListenerStatsAuthDone(b *testing.B) {
	s := NewListenerStats("imap", "127.0.0.1:30146", 1)
	defer s.Unregister()
	b.ReportAllocs()
	for b.Loop() {
		s.AuthDone("ok", 1234567)
	}
}

func BenchmarkMetricScrape(b *testing.B) {
	s := NewListenerStats("imap", "127.0.0.1:30147", 2)
	defer s.Unregister()
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteScrape(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

package dns

import (
	"net/netip"
	"testing"
)

// BenchmarkDNSParsePTR: one PTR answer (a worker's share of a lookup).
func BenchmarkDNSParsePTR(b *testing.B) {
	const q = "2.0.0.127.in-addr.arpa"
	msg := testMsg(7, q, TypePTR, 0, 0, []testRR{{TypePTR, 60, testName("mail.example.test")}})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := parse(msg, 7, q, TypePTR); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHit: a question answered from the cache.
func BenchmarkCacheHit(b *testing.B) {
	ip := netip.MustParseAddr("127.0.0.2")
	r := &Client{Servers: []string{"127.0.0.1:1"}, Valid: 3600e9}
	r.store(cacheKey{TypePTR, PTRName(ip)}, Result{Names: []string{"ok.test"}})
	b.ReportAllocs()
	for b.Loop() {
		if res := r.Ask(PTRName(ip), TypePTR); len(res.Names) != 1 {
			b.Fatal(res)
		}
	}
}

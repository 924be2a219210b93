package loop

import (
	"net/netip"
	"testing"
)

// BenchmarkDNSParsePTR: one PTR answer (a worker's share of a lookup).
func BenchmarkDNSParsePTR(b *testing.B) {
	const q = "2.0.0.127.in-addr.arpa"
	msg := dnsTestMsg(7, q, dnsTypePTR, 0, 0, []dnsTestRR{{dnsTypePTR, 60, dnsTestName("mail.example.test")}})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := dnsParse(msg, 7, q, dnsTypePTR); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolverCacheHit: both lookups answered from the cache.
func BenchmarkResolverCacheHit(b *testing.B) {
	ip := netip.MustParseAddr("127.0.0.2")
	r := &resolverRT{servers: []string{"127.0.0.1:1"}, ipv4: true, valid: 3600e9, cache: map[resolverKey]resolverEntry{}}
	r.store(resolverKey{dnsTypePTR, dnsPTRName(ip)}, dnsResult{names: []string{"ok.test"}})
	r.store(resolverKey{dnsTypeA, "ok.test"}, dnsResult{addrs: []netip.Addr{ip}})
	b.ReportAllocs()
	for b.Loop() {
		if h, _ := r.clientHost(ip); h != "ok.test" {
			b.Fatal(h)
		}
	}
}

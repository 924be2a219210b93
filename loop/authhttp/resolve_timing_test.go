package authhttp

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkResolveRetired is the check before each request on a
// kept-alive connection to a host name, while the set is current: it
// should cost a lock and no allocation.
func BenchmarkResolveRetired(b *testing.B) {
	r := newAuthAddrs("auth.test:143")
	r.lookup = func(context.Context, string) ([]netip.Addr, time.Duration, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}, time.Hour, nil
	}
	if _, err := r.candidates(time.Now().Add(time.Second)); err != nil {
		b.Fatal(err)
	}
	remote := net.Addr(net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.2:143")))
	gen := r.gen.Load()
	deadline := time.Now().Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if r.retired(remote, &gen, deadline) {
			b.Fatal("retired")
		}
	}
}

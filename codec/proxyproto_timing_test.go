package codec

import (
	"net/netip"
	"testing"
)

func BenchmarkParseProxyV1(b *testing.B) {
	buf := []byte("PROXY TCP6 2001:db8::1 2001:db8::2 4567 143\r\na1 LOGIN u p\r\n")
	var h ProxyHeader
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, r := ParseProxy(buf, &h); r != Done {
			b.Fatal(r)
		}
	}
}

func BenchmarkParseProxyV2(b *testing.B) {
	buf := []byte(proxyV2("21 11 0016 c0000201 c6336402 11d7 008f 01 0004 696d6170 04 0003 000000"))
	var h ProxyHeader
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, r := ParseProxy(buf, &h); r != Done {
			b.Fatal(r)
		}
	}
}

func BenchmarkAppendProxy(b *testing.B) {
	src := netip.MustParseAddrPort("192.0.2.1:4567")
	dst := netip.MustParseAddrPort("198.51.100.2:143")
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendProxyV1(buf[:0], src, dst)
		buf = AppendProxyV2(buf, src, dst)
	}
}

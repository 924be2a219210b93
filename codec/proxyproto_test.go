package codec

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// proxyDescribe runs ParseProxy and prints the outcome compactly:
// "more", "invalid", or "v1 TCP4 src dst n=N" ("local", "unknown", "unix"
// in place of the addresses when there are none).
func proxyDescribe(buf []byte) string {
	var h ProxyHeader
	n, r := ParseProxy(buf, &h)
	switch r {
	case NeedMore:
		return fmt.Sprintf("more %d", n)
	case Invalid:
		return fmt.Sprintf("invalid %d", n)
	}
	fam := [...]string{"unknown", "TCP4", "TCP6", "unix"}[h.Family]
	switch {
	case h.Local:
		return fmt.Sprintf("v%d local %s n=%d", h.Version, fam, n)
	case !h.HasAddrs():
		return fmt.Sprintf("v%d %s n=%d", h.Version, fam, n)
	}
	return fmt.Sprintf("v%d %s %s %s n=%d", h.Version, fam, h.Src, h.Dst, n)
}

func TestParseProxyV1(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := proxyDescribe([]byte(in)); got != want {
			t.Errorf("ParseProxy(%q) = %s, want %s", in, got, want)
		}
	}
	// The reference §2.2 example, and what follows the header is left alone.
	f("PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\n", "v1 TCP4 192.0.2.1:4567 198.51.100.2:143 n=44")
	f("PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\na1 LOGIN u p\r\n", "v1 TCP4 192.0.2.1:4567 198.51.100.2:143 n=44")
	f("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", "v1 TCP6 [2001:db8::1]:65535 [::1]:0 n=36")
	f("PROXY TCP6 ::ffff:192.0.2.1 1:2:3:4:5:6:7:8 1 2\r\n", "v1 TCP6 [::ffff:192.0.2.1]:1 [1:2:3:4:5:6:7:8]:2 n=49")
	f("PROXY TCP6 :: 1:: 1 2\r\n", "v1 TCP6 [::]:1 [1::]:2 n=23")
	f("PROXY TCP6 ABCD:ef01::9 1:0:0:0:0:0:0:1 1 2\r\n", "v1 TCP6 [abcd:ef01::9]:1 [1::1]:2 n=45")
	f("PROXY UNKNOWN\r\n", "v1 unknown n=15")
	f("PROXY UNKNOWN 1.2.3.4 whatever\r\nrest", "v1 unknown n=32")
	// Longest legal line: 107 bytes with CRLF.
	f("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
		"v1 TCP6 [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 [ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535 n=104")
	f("PROXY UNKNOWN "+strings.Repeat("x", 90)+"\r\n", "v1 unknown n=106")
	f("PROXY UNKNOWN "+strings.Repeat("x", 91)+"\r\n", "v1 unknown n=107")
	f("PROXY UNKNOWN "+strings.Repeat("x", 92)+"\r\n", "invalid 0")
	f("PROXY UNKNOWN "+strings.Repeat("x", 93), "invalid 0")
	// Prefixes wait; the first wrong byte is enough to refuse.
	f("", "more 0")
	f("P", "more 0")
	f("PROXY", "more 0")
	f("PROXY TCP4 1.2.3.4", "more 0")
	f("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "more 0")
	f("PROXY UNKNOWN "+strings.Repeat("x", 91)+"\r", "more 0")
	f("X", "invalid 0")
	f("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "invalid 0")
	f("PROXYTCP4", "invalid 0")
	f("a1 LOGIN u p\r\n", "invalid 0")
	f("GET / HTTP/1.0\r\n", "invalid 0")
	// Broken lines.
	f("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "more 0")
	f("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "invalid 0")
	f("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "invalid 0")
	f("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "invalid 0")
	f("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "invalid 0")
	f("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "invalid 0")
	f("PROXY TCP4\r\n", "invalid 0")
	f("PROXY \r\n", "invalid 0")
	f("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "invalid 0")
	f("PROXY TCP4 1.2.3.4 5.6.7.8 000001 2\r\n", "invalid 0")
	f("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "invalid 0")
	f("PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", "invalid 0")
	f("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "invalid 0")
	f("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "invalid 0")
	f("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", "invalid 0")
	f("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "invalid 0")
	f("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "invalid 0")
	f("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "invalid 0")
	f("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "invalid 0")
	f("PROXY TCP6 1::2::3 ::1 1 2\r\n", "invalid 0")
	f("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "invalid 0")
	f("PROXY TCP6 1:2:3:4:5:6:7::8 ::1 1 2\r\n", "invalid 0")
	f("PROXY TCP6 12345:: ::1 1 2\r\n", "invalid 0")
	f("PROXY TCP6 1: ::1 1 2\r\n", "invalid 0")
	f("PROXY TCP6 :1 ::1 1 2\r\n", "invalid 0")
	f("PROXY TCP6 1:2:3:4:5:6:7:1.2.3.4 ::1 1 2\r\n", "invalid 0")
}

// proxyV2 builds a v2 header from hex (spaces ignored) after the signature.
func proxyV2(tail string) string {
	b, err := hex.DecodeString(strings.ReplaceAll(tail, " ", ""))
	if err != nil {
		panic(err)
	}
	return string(proxyV2Sig[:]) + string(b)
}

func TestParseProxyV2(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := proxyDescribe([]byte(in)); got != want {
			t.Errorf("ParseProxy(%x) = %s, want %s", in, got, want)
		}
	}
	inet := "21 11 000c c0000201 c6336402 11d7 008f"
	f(proxyV2(inet), "v2 TCP4 192.0.2.1:4567 198.51.100.2:143 n=28")
	f(proxyV2(inet)+"a1 NOOP\r\n", "v2 TCP4 192.0.2.1:4567 198.51.100.2:143 n=28")
	f(proxyV2("21 21 0024 20010db8000000000000000000000001 00000000000000000000000000000001 ffff 0019"),
		"v2 TCP6 [2001:db8::1]:65535 [::1]:25 n=52")
	// TLVs (here an ALPN and a NOOP) are skipped with the length.
	f(proxyV2("21 11 0016 c0000201 c6336402 11d7 008f 01 0004 696d6170 04 0003 000000")+"x",
		"v2 TCP4 192.0.2.1:4567 198.51.100.2:143 n=38")
	// DGRAM is accepted as nginx does (it does not look at the transport).
	f(proxyV2("21 12 000c c0000201 c6336402 11d7 008f"), "v2 TCP4 192.0.2.1:4567 198.51.100.2:143 n=28")
	// LOCAL, AF_UNSPEC, AF_UNIX, unknown families: accepted, no addresses.
	f(proxyV2("20 00 0000"), "v2 local unknown n=16")
	f(proxyV2("20 11 000c c0000201 c6336402 11d7 008f"), "v2 local TCP4 n=28")
	f(proxyV2("20 11 0000"), "v2 local TCP4 n=16")
	f(proxyV2("21 00 0000"), "v2 unknown n=16")
	f(proxyV2("21 31 00d8"+strings.Repeat("00", 216)), "v2 unix n=232")
	f(proxyV2("21 41 0002 abcd"), "v2 unknown n=18")
	// Waiting for the rest.
	f(proxyV2("")[:1], "more 0")
	f(proxyV2("")[:11], "more 0")
	f(proxyV2(""), "more 0")
	f(proxyV2("21 11 00"), "more 0")
	f(proxyV2("21 11 000c c0000201"), "more 0")
	f(proxyV2("21 11 0ff0"), "more 0")
	// Broken.
	f("\r\n\r\n\x00\r\nQUIX", "invalid 0")
	f("\r\nPROXY", "invalid 0")
	f(proxyV2("11 11 000c c0000201 c6336402 11d7 008f"), "invalid 0")
	f(proxyV2("22 11 000c c0000201 c6336402 11d7 008f"), "invalid 0")
	f(proxyV2("2f"), "invalid 0")
	f(proxyV2("21 11 000b c0000201 c6336402 11d7 00"), "invalid 0")
	f(proxyV2("21 11 0000"), "invalid 0")
	f(proxyV2("21 21 000c c0000201 c6336402 11d7 008f"), "invalid 0")
	f(proxyV2("21 11 0ff1"), "invalid 0") // 16 + 4081 > 4096
	f(proxyV2("21 11 ffff"), "invalid 0")
}

func TestParseProxyV2MaxSize(t *testing.T) {
	in := proxyV2("21 11 0ff0 c0000201 c6336402 11d7 008f" + strings.Repeat("00", 0xff0-12))
	if got, want := proxyDescribe([]byte(in)), "v2 TCP4 192.0.2.1:4567 198.51.100.2:143 n=4096"; got != want {
		t.Errorf("4096-byte header: %s, want %s", got, want)
	}
	if got, want := proxyDescribe([]byte(in[:4095])), "more 0"; got != want {
		t.Errorf("4095 bytes of it: %s, want %s", got, want)
	}
}

func TestAppendProxyV1(t *testing.T) {
	f := func(src, dst, want string) {
		t.Helper()
		s, _ := netip.ParseAddrPort(src)
		d, _ := netip.ParseAddrPort(dst)
		if got := string(AppendProxyV1([]byte("x"), s, d)); got != "x"+want {
			t.Errorf("AppendProxyV1(%s, %s) = %q, want %q", src, dst, got, "x"+want)
		}
	}
	// reference §6, verified on nginx.
	f("127.0.0.1:60976", "127.0.0.1:11148", "PROXY TCP4 127.0.0.1 127.0.0.1 60976 11148\r\n")
	f("192.0.2.1:4567", "198.51.100.2:143", "PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\n")
	f("[2001:db8::1]:5", "[::1]:143", "PROXY TCP6 2001:db8::1 ::1 5 143\r\n")
	f("[::ffff:192.0.2.1]:5", "[::ffff:127.0.0.1]:143", "PROXY TCP4 192.0.2.1 127.0.0.1 5 143\r\n")
	f("192.0.2.1:5", "[::1]:143", "PROXY TCP6 ::ffff:192.0.2.1 ::1 5 143\r\n")
	f("[fe80::1%eth0]:5", "[fe80::2%eth0]:143", "PROXY TCP6 fe80::1 fe80::2 5 143\r\n")
	f("", "127.0.0.1:143", "PROXY UNKNOWN\r\n")
	f("127.0.0.1:5", "", "PROXY UNKNOWN\r\n")
}

func TestAppendProxyV2(t *testing.T) {
	f := func(src, dst, want string) {
		t.Helper()
		s, _ := netip.ParseAddrPort(src)
		d, _ := netip.ParseAddrPort(dst)
		got := AppendProxyV2(nil, s, d)
		if w := proxyV2(want); string(got) != w {
			t.Errorf("AppendProxyV2(%s, %s) = %x, want %x", src, dst, got, w)
		}
	}
	f("192.0.2.1:4567", "198.51.100.2:143", "21 11 000c c0000201 c6336402 11d7 008f")
	f("[2001:db8::1]:65535", "[::1]:25", "21 21 0024 20010db8000000000000000000000001 00000000000000000000000000000001 ffff 0019")
	f("192.0.2.1:1", "[::1]:2", "21 21 0024 00000000000000000000ffffc0000201 00000000000000000000000000000001 0001 0002")
	f("", "127.0.0.1:143", "21 00 0000")
}

// TestProxyRoundTrip: what the encoders write, the parser reads back.
func TestProxyRoundTrip(t *testing.T) {
	f := func(src, dst string) {
		t.Helper()
		s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
		for _, b := range [][]byte{AppendProxyV1(nil, s, d), AppendProxyV2(nil, s, d)} {
			var h ProxyHeader
			n, r := ParseProxy(b, &h)
			if r != Done || n != len(b) || h.Src != s || h.Dst != d {
				t.Errorf("%q: %d %d %s %s", b, r, n, h.Src, h.Dst)
			}
		}
	}
	f("192.0.2.1:4567", "198.51.100.2:143")
	f("[2001:db8::1]:0", "[::]:65535")
	f("[1:2:3:4:5:6:7:8]:1", "[::1]:2")
}

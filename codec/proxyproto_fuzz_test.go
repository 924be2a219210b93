package codec

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// proxyFeed gives ParseProxy the input in growing prefixes, as a connection
// delivers it: each step adds next(left) bytes, and the parser is called
// again on everything so far until it says Done or Invalid. It returns
// what proxyDescribe says at that point (or at the end of the input).
func proxyFeed(t *testing.T, data []byte, next func(left int) int) string {
	t.Helper()
	have := 0
	for {
		var h ProxyHeader
		n, r := ParseProxy(data[:have], &h)
		if n < 0 || n > have {
			t.Fatalf("consumed %d of %d", n, have)
		}
		if r != NeedMore && n > 0 != (r == Done) {
			t.Fatalf("result %d with consumed %d", r, n)
		}
		if r != NeedMore || have == len(data) {
			return proxyDescribe(data[:have])
		}
		if have >= ProxyMaxHeader {
			t.Fatalf("NeedMore at %d bytes", have)
		}
		have += next(len(data) - have)
	}
}

// FuzzParseProxy checks ParseProxy's invariants: no panic, consumed within
// the input, never NeedMore past ProxyMaxHeader, and the same outcome
// whether the bytes come whole, one at a time, or split at random. A
// header it accepts and re-encodes is read back the same.
func FuzzParseProxy(f *testing.F) {
	for _, s := range []string{
		"PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\na1 LOGIN u p\r\n",
		"PROXY TCP6 2001:db8::1 ::ffff:1.2.3.4 1 2\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		proxyV2("21 11 000c c0000201 c6336402 11d7 008f") + "x",
		proxyV2("21 21 0024 20010db8000000000000000000000001 00000000000000000000000000000001 ffff 0019"),
		proxyV2("20 00 0000"),
		proxyV2("21 11 0016 c0000201 c6336402 11d7 008f 01 0004 696d6170 04 0003 000000"),
		proxyV2("21 11 0ff1"),
	} {
		f.Add([]byte(s), uint64(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		whole := proxyFeed(t, data, func(left int) int { return left })
		if got := proxyFeed(t, data, func(int) int { return 1 }); got != whole {
			t.Fatalf("byte by byte: %s, whole: %s", got, whole)
		}
		r := rand.New(rand.NewPCG(seed, seed>>32))
		if got := proxyFeed(t, data, func(left int) int { return 1 + r.IntN(left) }); got != whole {
			t.Fatalf("split (seed %d): %s, whole: %s", seed, got, whole)
		}
		var h ProxyHeader
		if n, res := ParseProxy(data, &h); res == Done && h.HasAddrs() {
			for _, b := range [][]byte{AppendProxyV1(nil, h.Src, h.Dst), AppendProxyV2(nil, h.Src, h.Dst)} {
				var h2 ProxyHeader
				if n2, r2 := ParseProxy(b, &h2); r2 != Done || n2 != len(b) || h2.Src != h.Src || h2.Dst != h.Dst {
					// Mixed families are re-encoded as TCP6 with a mapped address.
					if h.Src.Addr().Is4() == h.Dst.Addr().Is4() && !h.Src.Addr().Is4In6() && !h.Dst.Addr().Is4In6() {
						t.Fatalf("header of %d bytes re-encoded as %q reads back %v %s %s", n, b, r2, h2.Src, h2.Dst)
					}
				}
			}
		}
	})
}

// FuzzProxyParseIP checks the allocation-free address parsers against
// net/netip (zones aside, which a PROXY header cannot carry).
func FuzzProxyParseIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "01.2.3.4", "::", "1::", "::1", "::ffff:1.2.3.4",
		"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "fe80::1%x", "1:2:3:4:5:6:1.2.3.4", ":::", "1.2.3.4.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := netip.ParseAddr(s)
		if err == nil && want.Zone() != "" {
			err = errProxyZone
		}
		got4, ok4 := proxyParseIP([]byte(s), ProxyTCP4)
		got6, ok6 := proxyParseIP([]byte(s), ProxyTCP6)
		switch {
		case err != nil:
			if ok4 || ok6 {
				t.Fatalf("%q: netip refuses (%v), parsed %v %v", s, err, got4, got6)
			}
		case want.Is4():
			if !ok4 || got4 != want || ok6 {
				t.Fatalf("%q: want %v, got4 %v %v got6 %v %v", s, want, got4, ok4, got6, ok6)
			}
		default:
			if !ok6 || got6 != want || ok4 {
				t.Fatalf("%q: want %v, got4 %v %v got6 %v %v", s, want, got4, ok4, got6, ok6)
			}
		}
	})
}

var errProxyZone = errors.New("zones are refused in PROXY headers")

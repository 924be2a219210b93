package loop

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestResolverValidName(t *testing.T) {
	f := func(name string, want bool) {
		t.Helper()
		if got := resolverValidName(name); got != want {
			t.Fatalf("%q: got %v, want %v", name, got, want)
		}
	}
	f("mail.example.com", true)
	f("MX-1.Example.COM", true)
	f("0.example", true)
	f("a", true)
	f("", false)
	f("bad_name.test", false)
	f("has space.test", false)
	f("inject\r\nAuth-Status: OK", false)
	f("a=b", false)
	f("a+b", false)
	f("[UNAVAILABLE]", false)
	f("ümlaut.test", false)
	f("a/b", false)
	f("a@b", false)
	f("a`b", false)
	f("a{b", false)
}

// resolverSpec turns a test spec into an answer: nx, servfail, refused,
// timeout, or a comma-separated list of names (PTR) or addresses (forward).
func resolverSpec(spec string) dnsResult {
	switch spec {
	case "nx":
		return dnsResult{code: dnsNXDomain}
	case "servfail":
		return dnsResult{code: dnsServFail}
	case "refused":
		return dnsResult{code: dnsRefused}
	case "timeout":
		return dnsResult{code: dnsTimedOut}
	case "empty":
		return dnsResult{}
	}
	var r dnsResult
	for _, v := range strings.Split(spec, ",") {
		if a, err := netip.ParseAddr(v); err == nil {
			r.addrs = append(r.addrs, a)
		} else {
			r.names = append(r.names, v)
		}
	}
	return r
}

// TestResolverDecide is nginx's decision table (reference §3.3.4, checked
// with nginx 1.22.1 in e2e/resolver_test.go) for a client at 127.0.0.2.
// A forward spec "-" means the forward lookup must not happen.
func TestResolverDecide(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.2")
	f := func(ptr, fwd, wantHost, wantLog string) {
		t.Helper()
		host, msg := resolverDecide(ip, resolverSpec(ptr), func(name string) dnsResult {
			if fwd == "-" {
				t.Fatalf("%s: unexpected forward lookup of %q", ptr, name)
			}
			return resolverSpec(fwd)
		})
		if host != wantHost || msg != wantLog {
			t.Fatalf("%s / %s:\n got %q, %q\nwant %q, %q", ptr, fwd, host, msg, wantHost, wantLog)
		}
	}
	const addr, name = " while in resolving client address", " while in resolving client hostname"
	f("ok.test", "127.0.0.2", "ok.test", "")
	f("ok.test", "127.0.0.9,127.0.0.2", "ok.test", "")
	f("ok.test", "::ffff:127.0.0.2", "ok.test", "")
	f("first.test,second.test", "127.0.0.2", "first.test", "")
	f("ok.test", "127.0.0.9", "[UNAVAILABLE]", "")
	f("ok.test", "::1", "[UNAVAILABLE]", "")
	f("ok.test", "empty", "[UNAVAILABLE]", "")
	f("nx", "-", "[UNAVAILABLE]", "127.0.0.2 could not be resolved (3: Host not found)"+addr)
	f("empty", "-", "[UNAVAILABLE]", "127.0.0.2 could not be resolved (3: Host not found)"+addr)
	f("servfail", "-", "[TEMPUNAVAIL]", "127.0.0.2 could not be resolved (2: Server failure)"+addr)
	f("refused", "-", "[TEMPUNAVAIL]", "127.0.0.2 could not be resolved (5: Operation refused)"+addr)
	f("timeout", "-", "[TEMPUNAVAIL]", "127.0.0.2 could not be resolved (110: Operation timed out)"+addr)
	f("bad_name.test", "-", "[TEMPUNAVAIL]", `127.0.0.2 resolved to invalid host name "bad_name.test"`+addr)
	f("has space.test", "-", "[TEMPUNAVAIL]", `127.0.0.2 resolved to invalid host name "has space.test"`+addr)
	f("a\r\nb", "-", "[TEMPUNAVAIL]", `127.0.0.2 resolved to invalid host name "a__b"`+addr)
	f("ok.test", "nx", "[UNAVAILABLE]", `"ok.test" could not be resolved (3: Host not found)`+name)
	f("ok.test", "servfail", "[TEMPUNAVAIL]", `"ok.test" could not be resolved (2: Server failure)`+name)
	f("ok.test", "timeout", "[TEMPUNAVAIL]", `"ok.test" could not be resolved (110: Operation timed out)`+name)
}

func TestDNSPTRName(t *testing.T) {
	f := func(ip, want string) {
		t.Helper()
		if got := dnsPTRName(netip.MustParseAddr(ip)); got != want {
			t.Fatalf("%s: got %q, want %q", ip, got, want)
		}
	}
	f("127.0.0.2", "2.0.0.127.in-addr.arpa")
	f("192.0.2.255", "255.2.0.192.in-addr.arpa")
	f("::ffff:10.1.2.3", "3.2.1.10.in-addr.arpa")
	f("2001:db8::567:89ab", "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
}

// dnsTestMsg builds an answer to (id, name, qtype) with rcode and flags
// (0x02 = TC), the records given as (type, ttl, rdata); rdata "@" is a
// pointer to the question name.
type dnsTestRR struct {
	typ   uint16
	ttl   uint32
	rdata []byte
}

func dnsTestMsg(id uint16, name string, qtype uint16, flags, rcode byte, an []dnsTestRR, ns ...dnsTestRR) []byte {
	m := dnsQuery(nil, id, name, qtype)
	m[2] = 0x81 | flags
	m[3] = 0x80 | rcode
	binary.BigEndian.PutUint16(m[6:], uint16(len(an)))
	binary.BigEndian.PutUint16(m[8:], uint16(len(ns)))
	for _, r := range append(an, ns...) {
		m = append(m, 0xc0, 12)
		m = binary.BigEndian.AppendUint16(m, r.typ)
		m = binary.BigEndian.AppendUint16(m, dnsClassIN)
		m = binary.BigEndian.AppendUint32(m, r.ttl)
		m = binary.BigEndian.AppendUint16(m, uint16(len(r.rdata)))
		m = append(m, r.rdata...)
	}
	return m
}

// dnsTestName encodes a name as uncompressed labels.
func dnsTestName(name string) []byte {
	q := dnsQuery(nil, 0, name, 0)
	return q[12 : len(q)-4]
}

func TestDNSParse(t *testing.T) {
	const q = "2.0.0.127.in-addr.arpa"
	f := func(msg []byte, qtype uint16, want string) {
		t.Helper()
		res, tc, err := dnsParse(msg, 7, q, qtype)
		got := ""
		switch {
		case err != nil:
			got = "error"
		case tc:
			got = "truncated"
		default:
			got = strconv.Itoa(res.code) + " " + strings.Join(res.names, ",")
			for _, a := range res.addrs {
				got += " " + a.String()
			}
			got += " ttl=" + strconv.Itoa(int(res.ttl))
		}
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	ptr := func(name string, ttl uint32) dnsTestRR { return dnsTestRR{dnsTypePTR, ttl, dnsTestName(name)} }
	soa := dnsTestRR{dnsTypeSOA, 300, append(append(dnsTestName("ns.test"), dnsTestName("h.test")...),
		0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 60)}
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 0, []dnsTestRR{ptr("Mail.Example.test", 120), ptr("b.test", 30)}), dnsTypePTR,
		"0 mail.example.test,b.test ttl=30")
	// a PTR target compressed against the question: "x" + pointer to offset 12
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 0, []dnsTestRR{{dnsTypePTR, 5, []byte{1, 'x', 0xc0, 12}}}), dnsTypePTR,
		"0 x.2.0.0.127.in-addr.arpa ttl=5")
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 3, nil), dnsTypePTR, "3  ttl=0")
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 3, nil, soa), dnsTypePTR, "3  ttl=60")
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 0, nil), dnsTypePTR, "3  ttl=0") // empty answer: Host not found
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 0, nil, soa), dnsTypePTR, "3  ttl=60")
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 2, nil), dnsTypePTR, "2  ttl=0")
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 5, nil), dnsTypePTR, "5  ttl=0")
	f(dnsTestMsg(7, q, dnsTypePTR, 0x02, 0, nil), dnsTypePTR, "truncated")
	f(dnsTestMsg(8, q, dnsTypePTR, 0, 0, nil), dnsTypePTR, "error") // another ID
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 0, nil), dnsTypeA, "error")   // another question
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 0, nil)[:20], dnsTypePTR, "error")
	f(dnsQuery(nil, 7, q, dnsTypePTR), dnsTypePTR, "error") // a query, not an answer
	// CNAME chain then A / AAAA; records of other types are skipped.
	cname := dnsTestRR{5, 10, dnsTestName("real.test")}
	f(dnsTestMsg(7, q, dnsTypeA, 0, 0, []dnsTestRR{cname, {dnsTypeA, 20, []byte{127, 0, 0, 2}}}), dnsTypeA, "0  127.0.0.2 ttl=20")
	f(dnsTestMsg(7, q, dnsTypeA, 0, 0, []dnsTestRR{cname}), dnsTypeA, "3  ttl=0") // CNAME only: not followed
	f(dnsTestMsg(7, q, dnsTypeAAAA, 0, 0, []dnsTestRR{{dnsTypeAAAA, 20, netip.MustParseAddr("::1").AsSlice()}}), dnsTypeAAAA, "0  ::1 ttl=20")
	f(dnsTestMsg(7, q, dnsTypeA, 0, 0, []dnsTestRR{{dnsTypeA, 20, []byte{127, 0, 0}}}), dnsTypeA, "1  ttl=0")
	// A pointer loop and a forward pointer are format errors.
	f(dnsTestMsg(7, q, dnsTypePTR, 0, 0, []dnsTestRR{{dnsTypePTR, 5, []byte{0xc0, 0xff}}}), dnsTypePTR, "1  ttl=0")
	loop := dnsTestMsg(7, q, dnsTypePTR, 0, 0, []dnsTestRR{{dnsTypePTR, 5, []byte{0, 0}}})
	binary.BigEndian.PutUint16(loop[len(loop)-2:], 0xc000|uint16(len(loop)-2))
	f(loop, dnsTypePTR, "1  ttl=0")
}

package dns

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

func TestDNSPTRName(t *testing.T) {
	f := func(ip, want string) {
		t.Helper()
		if got := PTRName(netip.MustParseAddr(ip)); got != want {
			t.Fatalf("%s: got %q, want %q", ip, got, want)
		}
	}
	f("127.0.0.2", "2.0.0.127.in-addr.arpa")
	f("192.0.2.255", "255.2.0.192.in-addr.arpa")
	f("::ffff:10.1.2.3", "3.2.1.10.in-addr.arpa")
	f("2001:db8::567:89ab", "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
}

// testMsg builds an answer to (id, name, qtype) with rcode and flags
// (0x02 = TC), the records given as (type, ttl, rdata); rdata "@" is a
// pointer to the question name.
type testRR struct {
	typ   uint16
	ttl   uint32
	rdata []byte
}

func testMsg(id uint16, name string, qtype uint16, flags, rcode byte, an []testRR, ns ...testRR) []byte {
	m := query(nil, id, name, qtype)
	m[2] = 0x81 | flags
	m[3] = 0x80 | rcode
	binary.BigEndian.PutUint16(m[6:], uint16(len(an)))
	binary.BigEndian.PutUint16(m[8:], uint16(len(ns)))
	for _, r := range append(an, ns...) {
		m = append(m, 0xc0, 12)
		m = binary.BigEndian.AppendUint16(m, r.typ)
		m = binary.BigEndian.AppendUint16(m, classIN)
		m = binary.BigEndian.AppendUint32(m, r.ttl)
		m = binary.BigEndian.AppendUint16(m, uint16(len(r.rdata)))
		m = append(m, r.rdata...)
	}
	return m
}

// testName encodes a name as uncompressed labels.
func testName(name string) []byte {
	q := query(nil, 0, name, 0)
	return q[12 : len(q)-4]
}

func TestDNSParse(t *testing.T) {
	const q = "2.0.0.127.in-addr.arpa"
	f := func(msg []byte, qtype uint16, want string) {
		t.Helper()
		res, tc, err := parse(msg, 7, q, qtype)
		got := ""
		var ig *ignoredError
		switch {
		case errors.As(err, &ig):
			got = "ignored: " + strings.Join(ig.msgs, "; ")
		case err != nil:
			got = "error"
		case tc:
			got = "truncated"
		default:
			got = strconv.Itoa(res.Code) + " " + strings.Join(res.Names, ",")
			for _, a := range res.Addrs {
				got += " " + a.String()
			}
			got += " ttl=" + strconv.Itoa(int(res.TTL))
			if res.CNAME != "" {
				got += " cname=" + res.CNAME
			}
			for _, n := range res.Notes {
				got += "; " + n
			}
		}
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	ptr := func(name string, ttl uint32) testRR { return testRR{TypePTR, ttl, testName(name)} }
	soa := testRR{TypeSOA, 300, append(append(testName("ns.test"), testName("h.test")...),
		0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 60)}
	f(testMsg(7, q, TypePTR, 0, 0, []testRR{ptr("Mail.Example.test", 120), ptr("b.test", 30)}), TypePTR,
		"0 mail.example.test ttl=120") // nginx takes the first PTR record
	// a PTR target compressed against the question: "x" + pointer to offset 12
	f(testMsg(7, q, TypePTR, 0, 0, []testRR{{TypePTR, 5, []byte{1, 'x', 0xc0, 12}}}), TypePTR,
		"0 x.2.0.0.127.in-addr.arpa ttl=5")
	f(testMsg(7, q, TypePTR, 0, 3, nil), TypePTR, "3  ttl=0")
	f(testMsg(7, q, TypePTR, 0, 3, nil, soa), TypePTR, "3  ttl=60")
	f(testMsg(7, q, TypePTR, 0, 0, nil), TypePTR, "3  ttl=0") // empty answer: Host not found
	f(testMsg(7, q, TypePTR, 0, 0, nil, soa), TypePTR, "3  ttl=60")
	f(testMsg(7, q, TypePTR, 0, 2, nil), TypePTR, "2  ttl=0")
	f(testMsg(7, q, TypePTR, 0, 5, nil), TypePTR, "5  ttl=0")
	f(testMsg(7, q, TypePTR, 0x02, 0, nil), TypePTR, "truncated")
	f(testMsg(8, q, TypePTR, 0, 0, nil), TypePTR, "error") // another ID
	f(testMsg(7, q, TypePTR, 0, 0, nil), TypeA, "error")   // another question
	f(testMsg(7, q, TypePTR, 0, 0, nil)[:20], TypePTR, "error")
	f(query(nil, 7, q, TypePTR), TypePTR, "error") // a query, not an answer
	// CNAME chain then A / AAAA; records of other types are skipped.
	cname := testRR{5, 10, testName("real.test")}
	f(testMsg(7, q, TypeA, 0, 0, []testRR{cname, {TypeA, 20, []byte{127, 0, 0, 2}}}), TypeA, "0  127.0.0.2 ttl=20")
	f(testMsg(7, q, TypeA, 0, 0, []testRR{cname}), TypeA, "0  ttl=10 cname=real.test") // CNAME only: to follow
	f(testMsg(7, q, TypePTR, 0, 0, []testRR{cname}), TypePTR, "0  ttl=10 cname=real.test")
	f(testMsg(7, q, TypePTR, 0, 0, []testRR{cname, ptr("via.test", 40)}), TypePTR, "0 via.test ttl=40")
	f(testMsg(7, q, TypeAAAA, 0, 0, []testRR{{TypeAAAA, 20, netip.MustParseAddr("::1").AsSlice()}}), TypeAAAA, "0  ::1 ttl=20")
	// What nginx 1.22 logs and ignores (the question stays pending).
	dname := testRR{TypeDNAME, 10, testName("other.test")}
	f(testMsg(7, q, TypeA, 0, 0, []testRR{{TypeA, 20, []byte{127, 0, 0}}}), TypeA, "ignored: invalid A record in DNS response")
	f(testMsg(7, q, TypeA, 0, 0, []testRR{{TypeA, 20, nil}}), TypeA, "ignored: invalid A record in DNS response")
	f(testMsg(7, q, TypeAAAA, 0, 0, []testRR{{TypeA, 20, []byte{127, 0, 0, 1}}}), TypeAAAA, "ignored: unexpected A record in DNS response")
	f(testMsg(7, q, TypePTR, 0, 0, []testRR{dname}), TypePTR, "ignored: unexpected RR type 39 in DNS response; no PTR type in DNS response")
	f(testMsg(7, q, TypePTR, 0, 0, []testRR{dname, ptr("x.test", 5)}), TypePTR, "0 x.test ttl=5; unexpected RR type 39 in DNS response")
	f(testMsg(7, q, TypeA, 0, 0, []testRR{dname}), TypeA, "ignored: no A or CNAME types in DNS response")
	f(testMsg(7, q, TypePTR, 0, 0, []testRR{{TypePTR, 5, nil}}), TypePTR, "ignored: short DNS response")
	f(testMsg(7, q, TypePTR, 0, 1, nil), TypePTR, "ignored: DNS error (1: Format error), query id:7")
	f(testMsg(7, q, TypePTR, 0, 9, nil), TypePTR, "ignored: DNS error (9: Unknown error), query id:7")
	short := testMsg(7, q, TypePTR, 0, 0, []testRR{ptr("x.test", 5)})
	f(short[:len(short)-3], TypePTR, "ignored: short DNS response")
	// A pointer loop and a forward pointer are invalid names.
	f(testMsg(7, q, TypePTR, 0, 0, []testRR{{TypePTR, 5, []byte{0xc0, 0xff}}}), TypePTR, "ignored: invalid name in DNS response")
	loop := testMsg(7, q, TypePTR, 0, 0, []testRR{{TypePTR, 5, []byte{0, 0}}})
	binary.BigEndian.PutUint16(loop[len(loop)-2:], 0xc000|uint16(len(loop)-2))
	f(loop, TypePTR, "ignored: invalid name in DNS response")
	// Uncompressed: the owner written out in full.
	full := query(nil, 7, q, TypePTR)
	full[2], full[3], full[7] = 0x81, 0x80, 1
	full = append(full, testName(q)...)
	full = append(full, 0, TypePTR, 0, classIN, 0, 0, 0, 9, 0, byte(len(testName("full.test"))))
	full = append(full, testName("full.test")...)
	f(full, TypePTR, "0 full.test ttl=9")
}

package e2e

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// dnsServer is a tiny authoritative DNS server over UDP on 127.0.0.1 for
// the resolver tests. Its messages are built by hand (RFC 1035 §4.1):
// header, the question echoed, answer RRs whose owner is a compression
// pointer to the question name. Every name not in the table is NXDOMAIN.
type dnsServer struct {
	Addr string // "127.0.0.1:PORT"
	pc   net.PacketConn

	mu      sync.Mutex
	table   map[string]dnsAnswer // key: "PTR 2.0.0.127.in-addr.arpa" or "A name" (no final dot, lower case)
	queries []string             // "TYPE name" in arrival order
	seen    chan string          // each query, if the test listens
	log     *dnsLog              // shared by several servers, with tag (joinLog)
	tag     string
	release chan struct{} // closed at test end: gated and hung answers give up
	wg      sync.WaitGroup
}

// dnsAnswer is what the server says to one question.
type dnsAnswer struct {
	rcode uint16        // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN
	names []string      // PTR targets (wire labels, may hold any byte but '.')
	addrs []netip.Addr  // A / AAAA data (filtered by the question type)
	hang  bool          // never answer
	gate  chan struct{} // answer only once closed
	rrs   []dnsRec      // further answer records, as given, after the above
	full  bool          // owner names written out in full, not as a pointer
	ttl   uint32        // the records' TTL; 0: 60
}

// dnsRec is one raw answer record; owner "" is the question name.
type dnsRec struct {
	typ   uint16
	owner string
	rdata []byte
}

// dnsLog is the order in which queries reached several servers, each
// entry "TAG TYPE name" (lower case).
type dnsLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *dnsLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...)
}

const (
	dnsTypeA     = 1
	dnsTypePTR   = 12
	dnsTypeAAAA  = 28
	dnsTypeCNAME = 5
	dnsTypeDNAME = 39
)

func startDNS(t testing.TB) *dnsServer {
	t.Helper()
	return startDNSAt(t, "127.0.0.1")
}

// startDNSAt is startDNS on another loopback address, with queries also
// recorded in log as "tag TYPE name" when log is not nil.
func startDNSAt(t testing.TB, ip string) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsServer{Addr: pc.LocalAddr().String(), pc: pc, table: map[string]dnsAnswer{},
		release: make(chan struct{})}
	d.wg.Add(1)
	go d.serve()
	t.Cleanup(func() {
		close(d.release)
		pc.Close()
		d.wg.Wait()
	})
	return d
}

// joinLog records this server's queries in log as "tag TYPE name" too.
func (d *dnsServer) joinLog(log *dnsLog, tag string) {
	d.mu.Lock()
	d.log, d.tag = log, tag
	d.mu.Unlock()
}

// ptr sets the PTR answer for IPv4 address ip.
func (d *dnsServer) ptr(ip string, a dnsAnswer) {
	d.set("PTR "+dnsReverse(ip), a)
}

// fwd sets the A and AAAA answer for name; AAAA gets the IPv6 addresses
// of a (none: an empty NOERROR answer).
func (d *dnsServer) fwd(name string, a dnsAnswer) {
	d.set("A "+name, a)
	d.set("AAAA "+name, a)
}

func (d *dnsServer) set(key string, a dnsAnswer) {
	d.mu.Lock()
	d.table[strings.ToLower(key)] = a
	d.mu.Unlock()
}

// count is how many queries of "TYPE name" arrived.
func (d *dnsServer) count(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, q := range d.queries {
		if q == strings.ToLower(key) {
			n++
		}
	}
	return n
}

func dnsReverse(ip string) string {
	a := netip.MustParseAddr(ip).As4()
	return strconv.Itoa(int(a[3])) + "." + strconv.Itoa(int(a[2])) + "." + strconv.Itoa(int(a[1])) + "." +
		strconv.Itoa(int(a[0])) + ".in-addr.arpa"
}

func (d *dnsServer) serve() {
	defer d.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := d.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := append([]byte(nil), buf[:n]...)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.answer(q, from)
		}()
	}
}

// answer parses one query and replies from the table.
func (d *dnsServer) answer(q []byte, from net.Addr) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return
	}
	name, end, ok := dnsReadName(q, 12)
	if !ok || end+4 > len(q) {
		return
	}
	qtype := binary.BigEndian.Uint16(q[end:])
	tname := map[uint16]string{dnsTypeA: "A", dnsTypePTR: "PTR", dnsTypeAAAA: "AAAA"}[qtype]
	key := strings.ToLower(tname + " " + name)
	d.mu.Lock()
	d.queries = append(d.queries, key)
	a, found := d.table[key]
	seen := d.seen
	if d.log != nil {
		d.log.mu.Lock()
		d.log.entries = append(d.log.entries, d.tag+" "+key)
		d.log.mu.Unlock()
	}
	d.mu.Unlock()
	if seen != nil {
		select {
		case seen <- key:
		case <-d.release:
			return
		}
	}
	if !found {
		a = dnsAnswer{rcode: 3}
	}
	if a.hang {
		return
	}
	if a.gate != nil {
		select {
		case <-a.gate:
		case <-d.release:
			return
		}
	}
	owner := ""
	if a.full {
		owner = name
	}
	ttl := a.ttl
	if ttl == 0 {
		ttl = 60
	}
	var rr [][]byte
	for _, n := range a.names {
		if qtype == dnsTypePTR {
			rr = append(rr, dnsRR(owner, dnsTypePTR, dnsName(n), ttl))
		}
	}
	for _, ip := range a.addrs {
		switch {
		case qtype == dnsTypeA && ip.Is4():
			b := ip.As4()
			rr = append(rr, dnsRR(owner, dnsTypeA, b[:], ttl))
		case qtype == dnsTypeAAAA && ip.Is6():
			b := ip.As16()
			rr = append(rr, dnsRR(owner, dnsTypeAAAA, b[:], ttl))
		}
	}
	for _, r := range a.rrs {
		rr = append(rr, dnsRR(r.owner, r.typ, r.rdata, ttl))
	}
	// Header: same ID; QR, AA, the query's RD, RA; rcode.
	resp := make([]byte, 12, 512)
	copy(resp, q[:2])
	flags := uint16(0x8400) | uint16(q[2]&1)<<8 | 0x80 | a.rcode
	binary.BigEndian.PutUint16(resp[2:], flags)
	binary.BigEndian.PutUint16(resp[4:], 1)
	binary.BigEndian.PutUint16(resp[6:], uint16(len(rr)))
	resp = append(resp, q[12:end+4]...)
	for _, r := range rr {
		resp = append(resp, r...)
	}
	_, _ = d.pc.WriteTo(resp, from)
}

// dnsRR is one answer record, class IN; owner "" is a pointer to the
// question name at offset 12, any other is written out in full.
func dnsRR(owner string, typ uint16, data []byte, ttl uint32) []byte {
	b := []byte{0xc0, 12}
	if owner != "" {
		b = dnsName(owner)
	}
	b = binary.BigEndian.AppendUint16(b, typ)
	b = append(b, 0, 1)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// dnsName encodes a dotted name as labels; bytes other than '.' go through
// unchanged, so a test can put '_' or a space into a label.
func dnsName(name string) []byte {
	var b []byte
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

// dnsReadName reads an uncompressed name at off (queries carry no
// pointers) and returns it without the final dot.
func dnsReadName(m []byte, off int) (string, int, bool) {
	var labels []string
	for off < len(m) {
		n := int(m[off])
		off++
		if n == 0 {
			return strings.Join(labels, "."), off, true
		}
		if n > 63 || off+n > len(m) {
			return "", 0, false
		}
		labels = append(labels, string(m[off:off+n]))
		off += n
	}
	return "", 0, false
}

// resolverTable fills d with one client address per case.
func resolverTable(d *dnsServer) {
	ip := netip.MustParseAddr
	d.ptr("127.0.0.2", dnsAnswer{names: []string{"ok.test"}})
	d.fwd("ok.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.2")}})
	// 127.0.0.3: no PTR record at all (NXDOMAIN).
	d.ptr("127.0.0.4", dnsAnswer{rcode: 2})
	d.ptr("127.0.0.5", dnsAnswer{names: []string{"bad_name.test"}})
	d.fwd("bad_name.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.5")}})
	d.ptr("127.0.0.6", dnsAnswer{names: []string{"has space.test"}})
	d.fwd("has space.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.6")}})
	d.ptr("127.0.0.7", dnsAnswer{names: []string{"mismatch.test"}})
	d.fwd("mismatch.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.99")}})
	d.ptr("127.0.0.8", dnsAnswer{names: []string{"fwdnx.test"}}) // no A record: NXDOMAIN
	d.ptr("127.0.0.9", dnsAnswer{names: []string{"fwdfail.test"}})
	d.fwd("fwdfail.test", dnsAnswer{rcode: 2})
	d.ptr("127.0.0.10", dnsAnswer{hang: true})
	d.ptr("127.0.0.11", dnsAnswer{}) // NOERROR, no answer
	d.ptr("127.0.0.12", dnsAnswer{names: []string{"fwdempty.test"}})
	d.fwd("fwdempty.test", dnsAnswer{})
	d.ptr("127.0.0.13", dnsAnswer{names: []string{"fwdhang.test"}})
	d.fwd("fwdhang.test", dnsAnswer{hang: true})
	d.ptr("127.0.0.14", dnsAnswer{names: []string{"Multi-1.Example.test"}})
	d.fwd("multi-1.example.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.99"), ip("127.0.0.14")}})
	d.ptr("127.0.0.15", dnsAnswer{names: []string{"first.test", "second.test"}})
	d.fwd("first.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.15")}})
	d.fwd("second.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.15")}})
}

// resolverRig is an SMTP rig whose mail{} uses the fake DNS server.
func newResolverRig(t *testing.T, extra string) (*smtpRig, *dnsServer) {
	t.Helper()
	d := startDNS(t)
	resolverTable(d)
	return newSMTPRig(t, "resolver "+d.Addr+";\nresolver_timeout 1s;\n"+extra), d
}

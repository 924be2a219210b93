package loop

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// A DNS stub client for the SMTP resolver (RFC 1035 §4): one question per
// message over UDP, TCP when the answer is truncated (RFC 7766). It asks
// the configured name servers only: unlike Go's net.Resolver it reads
// neither /etc/hosts (which would answer 127.0.0.1 with "localhost") nor
// resolv.conf's search list, and it tells an empty answer from NXDOMAIN
// (nginx's ngx_resolver behaves the same way). Runs in pool workers.

const (
	dnsTypeA    = 1
	dnsTypeSOA  = 6
	dnsTypePTR  = 12
	dnsTypeAAAA = 28
	dnsClassIN  = 1

	// dnsMaxUDP is the largest UDP answer read (RFC 1035's 512 plus room
	// for servers that send more without EDNS).
	dnsMaxUDP = 1232
	// dnsMaxName is the longest name in presentation form (RFC 1035 §2.3.4).
	dnsMaxName = 255
)

// Result codes: nginx's resolver states (ngx_resolver.h), which its log
// lines print: 1-5 are the RCODEs, an empty answer counts as 3, and 110 is
// ETIMEDOUT.
const (
	dnsOK       = 0
	dnsFormErr  = 1
	dnsServFail = 2
	dnsNXDomain = 3
	dnsNotImp   = 4
	dnsRefused  = 5
	dnsTimedOut = 110
)

// dnsCodeText is ngx_resolver_strerror's text for a code.
func dnsCodeText(code int) string {
	switch code {
	case dnsFormErr:
		return "Format error"
	case dnsServFail:
		return "Server failure"
	case dnsNXDomain:
		return "Host not found"
	case dnsNotImp:
		return "Unimplemented"
	case dnsRefused:
		return "Operation refused"
	case dnsTimedOut:
		return "Operation timed out"
	}
	return "Unknown error"
}

// dnsResult is the outcome of one question.
type dnsResult struct {
	code  int          // dnsOK or one of the codes above
	names []string     // PTR targets, lower case, no final dot
	addrs []netip.Addr // A / AAAA data
	ttl   uint32       // how long the answer may be cached (0: not at all)
}

var errDNSMismatch = errors.New("dns: answer does not match the question")

// dnsQuery builds a query for name (no final dot) and type with RD set.
func dnsQuery(dst []byte, id uint16, name string, qtype uint16) []byte {
	dst = binary.BigEndian.AppendUint16(dst, id)
	dst = append(dst, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0) // RD; QDCOUNT 1
	for _, l := range strings.Split(name, ".") {
		if l == "" {
			continue
		}
		dst = append(dst, byte(len(l)))
		dst = append(dst, l...)
	}
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, qtype)
	return binary.BigEndian.AppendUint16(dst, dnsClassIN)
}

// dnsPTRName is the reverse name of ip: "4.3.2.1.in-addr.arpa" or the
// nibbles under ip6.arpa (RFC 3596 §2.5).
func dnsPTRName(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		return strconv.Itoa(int(a[3])) + "." + strconv.Itoa(int(a[2])) + "." +
			strconv.Itoa(int(a[1])) + "." + strconv.Itoa(int(a[0])) + ".in-addr.arpa"
	}
	const hex = "0123456789abcdef"
	a := ip.As16()
	b := make([]byte, 0, 72)
	for i := 15; i >= 0; i-- {
		b = append(b, hex[a[i]&0xf], '.', hex[a[i]>>4], '.')
	}
	return string(append(b, "ip6.arpa"...))
}

// dnsReadName decodes the name at off in msg, following compression
// pointers (RFC 1035 §4.1.4) only backwards so that a loop cannot form.
// It returns the dotted lower-case name and the offset after the name as
// written at off.
func dnsReadName(msg []byte, off int) (string, int, error) {
	var b []byte
	end := -1
	limit := off // a pointer must go before the position it was read at
	for {
		if off >= len(msg) {
			return "", 0, errDNSMismatch
		}
		n := int(msg[off])
		switch {
		case n == 0:
			if end < 0 {
				end = off + 1
			}
			return string(b), end, nil
		case n&0xc0 == 0xc0:
			if off+1 >= len(msg) {
				return "", 0, errDNSMismatch
			}
			ptr := int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
			if end < 0 {
				end = off + 2
			}
			if ptr >= limit {
				return "", 0, errDNSMismatch
			}
			off, limit = ptr, ptr
			continue
		case n&0xc0 != 0:
			return "", 0, errDNSMismatch
		}
		if off+1+n > len(msg) || len(b)+n+1 > dnsMaxName {
			return "", 0, errDNSMismatch
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		for _, c := range msg[off+1 : off+1+n] {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
		off += 1 + n
	}
}

// dnsParse checks that msg answers the question (id, name, qtype) and
// collects the records of qtype. truncated reports the TC bit.
func dnsParse(msg []byte, id uint16, name string, qtype uint16) (res dnsResult, truncated bool, err error) {
	if len(msg) < 12 || binary.BigEndian.Uint16(msg) != id || msg[2]&0x80 == 0 {
		return res, false, errDNSMismatch
	}
	if msg[2]&0x78 != 0 || binary.BigEndian.Uint16(msg[4:]) != 1 {
		return res, false, errDNSMismatch
	}
	qn, off, err := dnsReadName(msg, 12)
	if err != nil || off+4 > len(msg) || !strings.EqualFold(qn, name) ||
		binary.BigEndian.Uint16(msg[off:]) != qtype || binary.BigEndian.Uint16(msg[off+2:]) != dnsClassIN {
		return res, false, errDNSMismatch
	}
	off += 4
	if msg[2]&0x02 != 0 {
		return res, true, nil
	}
	if rc := int(msg[3] & 0x0f); rc != 0 {
		res.code = rc
		if rc == dnsNXDomain {
			res.ttl = dnsSOATTL(msg, off)
		}
		return res, false, nil
	}
	an := int(binary.BigEndian.Uint16(msg[6:]))
	minTTL := uint32(0)
	for range an {
		var typ, class uint16
		var ttl uint32
		var rdata []byte
		if typ, class, ttl, rdata, off, err = dnsRR(msg, off); err != nil {
			return dnsResult{code: dnsFormErr}, false, nil
		}
		if class != dnsClassIN || typ != qtype {
			continue // e.g. the CNAME chain of a recursive answer
		}
		switch typ {
		case dnsTypePTR:
			n, _, err := dnsReadName(msg, off-len(rdata))
			if err != nil {
				return dnsResult{code: dnsFormErr}, false, nil
			}
			res.names = append(res.names, n)
		case dnsTypeA:
			if len(rdata) != 4 {
				return dnsResult{code: dnsFormErr}, false, nil
			}
			res.addrs = append(res.addrs, netip.AddrFrom4([4]byte(rdata)))
		case dnsTypeAAAA:
			if len(rdata) != 16 {
				return dnsResult{code: dnsFormErr}, false, nil
			}
			res.addrs = append(res.addrs, netip.AddrFrom16([16]byte(rdata)))
		}
		if minTTL == 0 || ttl < minTTL {
			minTTL = ttl
		}
	}
	if len(res.names) == 0 && len(res.addrs) == 0 {
		// nginx: "Host not found" for an answer without the records asked.
		return dnsResult{code: dnsNXDomain, ttl: dnsSOATTL(msg, off)}, false, nil
	}
	res.ttl = minTTL
	return res, false, nil
}

// dnsRR reads the resource record at off.
func dnsRR(msg []byte, off int) (typ, class uint16, ttl uint32, rdata []byte, next int, err error) {
	_, off, err = dnsReadName(msg, off)
	if err != nil || off+10 > len(msg) {
		return 0, 0, 0, nil, 0, errDNSMismatch
	}
	typ = binary.BigEndian.Uint16(msg[off:])
	class = binary.BigEndian.Uint16(msg[off+2:])
	ttl = binary.BigEndian.Uint32(msg[off+4:])
	n := int(binary.BigEndian.Uint16(msg[off+8:]))
	off += 10
	if off+n > len(msg) {
		return 0, 0, 0, nil, 0, errDNSMismatch
	}
	if ttl > 1<<31-1 { // RFC 2181 §8
		ttl = 0
	}
	return typ, class, ttl, msg[off : off+n], off + n, nil
}

// dnsSOATTL is the negative-caching TTL (RFC 2308 §5): the smaller of the
// SOA record's TTL and its MINIMUM, from the authority section after the
// answers starting at off; 0 when there is none.
func dnsSOATTL(msg []byte, off int) uint32 {
	an := int(binary.BigEndian.Uint16(msg[6:]))
	ns := int(binary.BigEndian.Uint16(msg[8:]))
	for i := range an + ns {
		typ, _, ttl, rdata, next, err := dnsRR(msg, off)
		if err != nil {
			return 0
		}
		if i >= an && typ == dnsTypeSOA && len(rdata) >= 22 {
			// MINIMUM is the last field; the names before it may be
			// compressed, so read it from the end.
			minimum := binary.BigEndian.Uint32(rdata[len(rdata)-4:])
			return min(ttl, minimum)
		}
		off = next
	}
	return 0
}

// dnsExchange asks server one question and waits for its answer until
// deadline. Answers that do not match the question are ignored.
func dnsExchange(server, name string, qtype uint16, deadline time.Time) (dnsResult, error) {
	id := uint16(rand.Uint32())
	q := dnsQuery(make([]byte, 0, 64+len(name)), id, name, qtype)
	c, err := net.DialTimeout("udp", server, time.Until(deadline))
	if err != nil {
		return dnsResult{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(q); err != nil {
		return dnsResult{}, err
	}
	buf := make([]byte, dnsMaxUDP)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return dnsResult{}, err
		}
		res, tc, err := dnsParse(buf[:n], id, name, qtype)
		if err != nil {
			continue // not ours (late or forged): keep waiting
		}
		if tc {
			return dnsExchangeTCP(server, q, id, name, qtype, deadline)
		}
		return res, nil
	}
}

// dnsExchangeTCP asks again over TCP after a truncated UDP answer.
func dnsExchangeTCP(server string, q []byte, id uint16, name string, qtype uint16, deadline time.Time) (dnsResult, error) {
	c, err := net.DialTimeout("tcp", server, time.Until(deadline))
	if err != nil {
		return dnsResult{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(q)), uint16(len(q)))
	if _, err := c.Write(append(msg, q...)); err != nil {
		return dnsResult{}, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return dnsResult{}, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return dnsResult{}, err
	}
	res, _, err := dnsParse(buf, id, name, qtype)
	return res, err
}

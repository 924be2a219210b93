package dns

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// DNS messages (RFC 1035 §4): the query, and the parse of an answer.

const (
	TypeA     = 1
	TypeCNAME = 5
	TypeSOA   = 6
	TypePTR   = 12
	TypeAAAA  = 28
	TypeDNAME = 39
	classIN   = 1

	// maxUDP is the largest UDP answer read (RFC 1035's 512 plus room
	// for servers that send more without EDNS).
	maxUDP = 1232
	// maxName is the longest name in presentation form (RFC 1035 §2.3.4).
	maxName = 255
)

// Result codes: nginx's resolver states (ngx_resolver.h), which its log
// lines print: 1-5 are the RCODEs, an empty answer counts as 3, and 110 is
// ETIMEDOUT.
const (
	OK       = 0
	FormErr  = 1
	ServFail = 2
	NXDomain = 3
	NotImp   = 4
	Refused  = 5
	TimedOut = 110
)

// CodeText is ngx_resolver_strerror's text for a code.
func CodeText(code int) string {
	switch code {
	case FormErr:
		return "Format error"
	case ServFail:
		return "Server failure"
	case NXDomain:
		return "Host not found"
	case NotImp:
		return "Unimplemented"
	case Refused:
		return "Operation refused"
	case TimedOut:
		return "Operation timed out"
	}
	return "Unknown error"
}

// Result is the outcome of one question.
type Result struct {
	Code  int          // OK or one of the codes above
	Names []string     // PTR targets, lower case, no final dot
	Addrs []netip.Addr // A / AAAA data
	TTL   uint32       // how long the answer may be cached (0: not at all)
	CNAME string       // from parse: the alias to follow, when the answer has no records of the type asked
	Notes []string     // nginx's log lines about records skipped and answers ignored on the way
}

var errMismatch = errors.New("dns: answer does not match the question")

// query builds a query for name (no final dot) and type with RD set.
func query(dst []byte, id uint16, name string, qtype uint16) []byte {
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
	return binary.BigEndian.AppendUint16(dst, classIN)
}

// PTRName is the reverse name of ip: "4.3.2.1.in-addr.arpa" or the
// nibbles under ip6.arpa (RFC 3596 §2.5).
func PTRName(ip netip.Addr) string {
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

// readName decodes the name at off in msg, following compression
// pointers (RFC 1035 §4.1.4) only backwards so that a loop cannot form.
// It returns the dotted lower-case name and the offset after the name as
// written at off.
func readName(msg []byte, off int) (string, int, error) {
	var b []byte
	end := -1
	limit := off // a pointer must go before the position it was read at
	for {
		if off >= len(msg) {
			return "", 0, errMismatch
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
				return "", 0, errMismatch
			}
			ptr := int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
			if end < 0 {
				end = off + 2
			}
			if ptr >= limit {
				return "", 0, errMismatch
			}
			off, limit = ptr, ptr
			continue
		case n&0xc0 != 0:
			return "", 0, errMismatch
		}
		if off+1+n > len(msg) || len(b)+n+1 > maxName {
			return "", 0, errMismatch
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

// ignoredError is an answer to the question that nginx logs and then
// ignores: it goes on waiting, and asks the next name server at the
// resend time (ngx_resolver_process_ptr / _a, the "DNS error" and
// "short DNS response" paths). msgs are nginx's log lines.
type ignoredError struct{ msgs []string }

func (e *ignoredError) Error() string { return "dns: answer ignored: " + strings.Join(e.msgs, "; ") }

func ignored(notes []string, msg string) *ignoredError {
	return &ignoredError{msgs: append(notes, msg)}
}

// parse checks that msg answers the question (id, name, qtype) and
// decodes it as nginx 1.22 does. err is errMismatch for a message that is
// not an answer to the question, *ignoredError for an answer nginx
// ignores; truncated reports the TC bit. For PTR only the first PTR
// record counts (nginx stops there); for A / AAAA all records do, and an
// answer with a CNAME and no address gives the CNAME to follow.
// res.Notes are the lines nginx logs about records it skipped.
func parse(msg []byte, id uint16, name string, qtype uint16) (res Result, truncated bool, err error) {
	if len(msg) < 12 || binary.BigEndian.Uint16(msg) != id || msg[2]&0x80 == 0 {
		return res, false, errMismatch
	}
	if msg[2]&0x78 != 0 || binary.BigEndian.Uint16(msg[4:]) != 1 {
		return res, false, errMismatch
	}
	qn, off, err := readName(msg, 12)
	if err != nil || off+4 > len(msg) || !strings.EqualFold(qn, name) ||
		binary.BigEndian.Uint16(msg[off:]) != qtype || binary.BigEndian.Uint16(msg[off+2:]) != classIN {
		return res, false, errMismatch
	}
	off += 4
	if msg[2]&0x02 != 0 {
		return res, true, nil
	}
	switch rc := int(msg[3] & 0x0f); {
	case rc == FormErr || rc > Refused:
		// nginx: "DNS error", and the question stays pending.
		return res, false, ignored(nil, "DNS error ("+strconv.Itoa(rc)+": "+CodeText(rc)+
			"), query id:"+strconv.Itoa(int(id)))
	case rc != 0:
		res.Code = rc
		if rc == NXDomain {
			res.TTL = soaTTL(msg, off)
		}
		return res, false, nil
	}
	an := int(binary.BigEndian.Uint16(msg[6:]))
	if an == 0 {
		// nginx: "Host not found" for an empty answer.
		return Result{Code: NXDomain, TTL: soaTTL(msg, off)}, false, nil
	}
	var notes []string
	minTTL, cnameTTL := uint32(0), uint32(0)
	for range an {
		var typ, class uint16
		var ttl uint32
		var rdata []byte
		if typ, class, ttl, rdata, off, err = readRR(msg, off); err != nil {
			return res, false, ignored(notes, "short DNS response")
		}
		if class != classIN {
			return res, false, ignored(notes, "unexpected RR class "+strconv.Itoa(int(class)))
		}
		switch {
		case typ == TypePTR && qtype == TypePTR:
			if len(rdata) == 0 {
				return res, false, ignored(notes, "short DNS response")
			}
			n, _, err := readName(msg, off-len(rdata))
			if err != nil {
				return res, false, ignored(notes, "invalid name in DNS response")
			}
			return Result{Names: []string{n}, TTL: ttl, Notes: notes}, false, nil
		case typ == TypeA || typ == TypeAAAA:
			if qtype == TypePTR {
				notes = append(notes, "unexpected RR type "+strconv.Itoa(int(typ))+" in DNS response")
				continue
			}
			if typ != qtype {
				return res, false, ignored(notes, "unexpected "+typeName(typ)+" record in DNS response")
			}
			if len(rdata) != 4 && typ == TypeA || len(rdata) != 16 && typ == TypeAAAA {
				return res, false, ignored(notes, "invalid "+typeName(typ)+" record in DNS response")
			}
			if typ == TypeA {
				res.Addrs = append(res.Addrs, netip.AddrFrom4([4]byte(rdata)))
			} else {
				res.Addrs = append(res.Addrs, netip.AddrFrom16([16]byte(rdata)))
			}
			if minTTL == 0 || ttl < minTTL {
				minTTL = ttl
			}
		case typ == TypeCNAME:
			if res.CNAME == "" {
				n, _, err := readName(msg, off-len(rdata))
				if err != nil || len(rdata) == 0 {
					return res, false, ignored(notes, "invalid name in DNS response")
				}
				res.CNAME, cnameTTL = n, ttl
			}
		case typ == TypeDNAME && qtype != TypePTR:
			// skipped without a word (ngx_resolver_process_a)
		default:
			notes = append(notes, "unexpected RR type "+strconv.Itoa(int(typ))+" in DNS response")
		}
	}
	res.Notes = notes
	switch {
	case len(res.Addrs) > 0:
		res.CNAME, res.TTL = "", minTTL
		return res, false, nil
	case res.CNAME != "":
		res.TTL = cnameTTL
		return res, false, nil
	case qtype == TypePTR:
		return Result{}, false, ignored(notes, "no PTR type in DNS response")
	}
	return Result{}, false, ignored(notes, "no A or CNAME types in DNS response")
}

func typeName(typ uint16) string {
	if typ == TypeA {
		return "A"
	}
	return "AAAA"
}

// readRR reads the resource record at off.
func readRR(msg []byte, off int) (typ, class uint16, ttl uint32, rdata []byte, next int, err error) {
	_, off, err = readName(msg, off)
	if err != nil || off+10 > len(msg) {
		return 0, 0, 0, nil, 0, errMismatch
	}
	typ = binary.BigEndian.Uint16(msg[off:])
	class = binary.BigEndian.Uint16(msg[off+2:])
	ttl = binary.BigEndian.Uint32(msg[off+4:])
	n := int(binary.BigEndian.Uint16(msg[off+8:]))
	off += 10
	if off+n > len(msg) {
		return 0, 0, 0, nil, 0, errMismatch
	}
	if ttl > 1<<31-1 { // RFC 2181 §8
		ttl = 0
	}
	return typ, class, ttl, msg[off : off+n], off + n, nil
}

// soaTTL is the negative-caching TTL (RFC 2308 §5): the smaller of the
// SOA record's TTL and its MINIMUM, from the authority section after the
// answers starting at off; 0 when there is none.
func soaTTL(msg []byte, off int) uint32 {
	an := int(binary.BigEndian.Uint16(msg[6:]))
	ns := int(binary.BigEndian.Uint16(msg[8:]))
	for i := range an + ns {
		typ, _, ttl, rdata, next, err := readRR(msg, off)
		if err != nil {
			return 0
		}
		if i >= an && typ == TypeSOA && len(rdata) >= 22 {
			// MINIMUM is the last field; the names before it may be
			// compressed, so read it from the end.
			minimum := binary.BigEndian.Uint32(rdata[len(rdata)-4:])
			return min(ttl, minimum)
		}
		off = next
	}
	return 0
}

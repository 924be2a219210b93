package codec

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
)

// PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy's
// proxy-protocol.txt defines it and nginx's ngx_proxy_protocol.c reads and
// writes it (reference §6).
//
// ParseProxy reads the header a load balancer puts in front of a client
// connection; AppendProxyV1 and AppendProxyV2 build the one mailproxy puts
// in front of a backend connection (`proxy_protocol on|v2`).

// Limits.
const (
	// ProxyV1MaxLen is the longest v1 line, CRLF included (spec §2.1).
	ProxyV1MaxLen = 107
	// ProxyMaxHeader is how much nginx peeks for a header (1.23.3); a v2
	// header (16 bytes plus its length field) must fit in it.
	ProxyMaxHeader = 4096
	// proxyV2Fixed is the v2 fixed part: signature, ver/cmd, fam, len.
	proxyV2Fixed = 16
)

// proxyV2Sig opens every v2 header (spec §2.2).
var proxyV2Sig = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

var proxyV1Prefix = []byte("PROXY ")

// ProxyFamily is the address family a PROXY header announced.
type ProxyFamily uint8

const (
	ProxyUnknown ProxyFamily = iota // v1 UNKNOWN, v2 AF_UNSPEC or an unknown family
	ProxyTCP4                       // v1 TCP4, v2 AF_INET
	ProxyTCP6                       // v1 TCP6, v2 AF_INET6
	ProxyUnix                       // v2 AF_UNIX (addresses not read)
)

// ProxyHeader is what a PROXY header said. Src and Dst are set only when
// HasAddrs reports true.
type ProxyHeader struct {
	Version uint8 // 1 or 2
	// Local is the v2 LOCAL command: the balancer's own connection (a
	// health check); the connection's real addresses stand.
	Local    bool
	Family   ProxyFamily
	Src, Dst netip.AddrPort
}

// HasAddrs reports whether the header carries a TCP source and destination.
// As in nginx, v1 UNKNOWN, v2 LOCAL and v2 families other than AF_INET and
// AF_INET6 are accepted but carry none: no realip, no Proxy-Protocol-*
// auth headers.
func (h *ProxyHeader) HasAddrs() bool {
	return !h.Local && (h.Family == ProxyTCP4 || h.Family == ProxyTCP6)
}

// ParseProxy parses a PROXY v1 or v2 header at the start of buf into h.
//
// It returns Done and the header's length; NeedMore when buf is a valid
// prefix of a header (call again with more bytes, up to ProxyMaxHeader);
// or Invalid when buf cannot start a valid header. consumed is 0 unless
// Done. Bytes after the header are the client's and are not looked at.
//
// Unlike nginx, which peeks once and calls a header cut across TCP segments
// broken, the parse is resumable: the caller keeps the bytes and calls again.
// It does not allocate.
func ParseProxy(buf []byte, h *ProxyHeader) (consumed int, r Result) {
	*h = ProxyHeader{}
	if len(buf) == 0 {
		return 0, NeedMore
	}
	if buf[0] == proxyV2Sig[0] {
		return proxyParseV2(buf, h)
	}
	return proxyParseV1(buf, h)
}

func proxyParseV1(buf []byte, h *ProxyHeader) (int, Result) {
	n := min(len(buf), len(proxyV1Prefix))
	if !bytes.Equal(buf[:n], proxyV1Prefix[:n]) {
		return 0, Invalid
	}
	win := buf[:min(len(buf), ProxyV1MaxLen)]
	end := bytes.Index(win, proxyCRLF)
	if end < 0 {
		if len(buf) >= ProxyV1MaxLen {
			return 0, Invalid
		}
		return 0, NeedMore
	}
	h.Version = 1
	line := buf[len(proxyV1Prefix):end]
	// nginx: "UNKNOWN" and anything up to CRLF.
	if bytes.HasPrefix(line, proxyUnknown) {
		h.Family = ProxyUnknown
		return end + 2, Done
	}
	if len(line) < 5 || line[0] != 'T' || line[1] != 'C' || line[2] != 'P' || line[4] != ' ' {
		return 0, Invalid
	}
	switch line[3] {
	case '4':
		h.Family = ProxyTCP4
	case '6':
		h.Family = ProxyTCP6
	default:
		return 0, Invalid
	}
	rest := line[5:]
	var f [4][]byte
	for i := range 3 {
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return 0, Invalid
		}
		f[i], rest = rest[:sp], rest[sp+1:]
	}
	f[3] = rest
	src, ok1 := proxyParseIP(f[0], h.Family)
	dst, ok2 := proxyParseIP(f[1], h.Family)
	sport, ok3 := proxyParsePort(f[2])
	dport, ok4 := proxyParsePort(f[3])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, Invalid
	}
	h.Src = netip.AddrPortFrom(src, sport)
	h.Dst = netip.AddrPortFrom(dst, dport)
	return end + 2, Done
}

var (
	proxyCRLF    = []byte("\r\n")
	proxyUnknown = []byte("UNKNOWN")
)

func proxyParseV2(buf []byte, h *ProxyHeader) (int, Result) {
	n := min(len(buf), len(proxyV2Sig))
	if !bytes.Equal(buf[:n], proxyV2Sig[:n]) {
		return 0, Invalid
	}
	if len(buf) >= 13 {
		// Version 2; command LOCAL (0) or PROXY (1).
		if buf[12]>>4 != 2 || buf[12]&0x0F > 1 {
			return 0, Invalid
		}
	}
	if len(buf) < proxyV2Fixed {
		return 0, NeedMore
	}
	total := proxyV2Fixed + int(binary.BigEndian.Uint16(buf[14:16]))
	if total > ProxyMaxHeader {
		return 0, Invalid
	}
	fam := buf[13] >> 4
	body := buf[proxyV2Fixed:min(len(buf), total)]
	// A declared length too short for its family is broken whatever
	// follows ("header is too short" in nginx); say so before waiting.
	switch {
	case fam == 1 && total-proxyV2Fixed < 12, fam == 2 && total-proxyV2Fixed < 36:
		if buf[12]&0x0F == 1 {
			return 0, Invalid
		}
	}
	if len(buf) < total {
		return 0, NeedMore
	}
	h.Version = 2
	h.Local = buf[12]&0x0F == 0
	switch fam {
	case 1:
		h.Family = ProxyTCP4
	case 2:
		h.Family = ProxyTCP6
	case 3:
		h.Family = ProxyUnix
	default:
		// AF_UNSPEC, or a family nginx does not know: accepted, no addresses.
		h.Family = ProxyUnknown
	}
	if h.Local {
		return total, Done
	}
	switch h.Family {
	case ProxyTCP4:
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case ProxyTCP6:
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
	}
	// TLVs (and AF_UNIX paths) are skipped: nothing here uses them.
	return total, Done
}

// proxyParsePort reads a v1 port: 1–5 decimal digits, at most 65535.
func proxyParsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	if v > 65535 {
		return 0, false
	}
	return uint16(v), true
}

// proxyParseIP reads a v1 address of the announced family. The accepted
// forms are net/netip's (no leading zeros in IPv4 octets, no zones), parsed
// here without allocating.
func proxyParseIP(b []byte, fam ProxyFamily) (netip.Addr, bool) {
	if fam == ProxyTCP4 {
		a, ok := proxyParseIPv4(b)
		if !ok {
			return netip.Addr{}, false
		}
		return netip.AddrFrom4(a), true
	}
	return proxyParseIPv6(b)
}

func proxyParseIPv4(b []byte) ([4]byte, bool) {
	var ip [4]byte
	i, p := 0, 0
	for i < 4 {
		v, n := 0, 0
		for p+n < len(b) && b[p+n] >= '0' && b[p+n] <= '9' {
			if n > 0 && v == 0 {
				return ip, false // leading zero
			}
			v = v*10 + int(b[p+n]-'0')
			n++
			if v > 255 {
				return ip, false
			}
		}
		if n == 0 {
			return ip, false
		}
		ip[i] = byte(v)
		i++
		p += n
		if i < 4 {
			if p >= len(b) || b[p] != '.' {
				return ip, false
			}
			p++
		}
	}
	return ip, p == len(b)
}

func proxyParseIPv6(b []byte) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // where "::" stands, in bytes of ip
	i, p := 0, 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		p = 2
	}
	for p < len(b) {
		if i == 16 {
			return netip.Addr{}, false
		}
		v, n := 0, 0
		for n < 4 && p+n < len(b) {
			d := proxyHexVal(b[p+n])
			if d < 0 {
				break
			}
			v = v<<4 | d
			n++
		}
		if n == 0 {
			return netip.Addr{}, false
		}
		if p+n < len(b) && b[p+n] == '.' {
			// Embedded IPv4 in the last 32 bits.
			if i > 12 {
				return netip.Addr{}, false
			}
			v4, ok := proxyParseIPv4(b[p:])
			if !ok {
				return netip.Addr{}, false
			}
			copy(ip[i:], v4[:])
			i += 4
			p = len(b)
			break
		}
		ip[i], ip[i+1] = byte(v>>8), byte(v)
		i += 2
		p += n
		if p == len(b) {
			break
		}
		if b[p] != ':' {
			return netip.Addr{}, false
		}
		p++
		if p == len(b) {
			return netip.Addr{}, false
		}
		if b[p] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = i
			p++
		}
	}
	if ellipsis >= 0 {
		if i == 16 {
			return netip.Addr{}, false // "::" must stand for at least one group
		}
		n := i - ellipsis
		copy(ip[16-n:], ip[ellipsis:i])
		clear(ip[ellipsis : 16-n])
	} else if i != 16 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom16(ip), true
}

func proxyHexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// proxyOutAddrs normalises the two addresses of an outgoing header: zones
// dropped, IPv4-mapped IPv6 shown as IPv4 when both sides are IPv4, and an
// IPv4 side mapped into IPv6 when the other is IPv6 (a header has one
// family). ok is false when either is not an IP address.
func proxyOutAddrs(src, dst netip.AddrPort) (s, d netip.Addr, v4, ok bool) {
	if !src.IsValid() || !dst.IsValid() {
		return s, d, false, false
	}
	s, d = src.Addr().WithZone("").Unmap(), dst.Addr().WithZone("").Unmap()
	if s.Is4() && d.Is4() {
		return s, d, true, true
	}
	return netip.AddrFrom16(s.As16()), netip.AddrFrom16(d.As16()), false, true
}

// AppendProxyV1 appends the v1 header nginx sends to a backend with
// `proxy_protocol on` (reference §6): "PROXY TCP4 <client ip> <address the
// client connected to> <client port> <listen port>\r\n" (TCP6 for IPv6),
// or "PROXY UNKNOWN\r\n" when either side is not an IP address (a unix
// socket client). It does not allocate when dst has room.
func AppendProxyV1(b []byte, src, dst netip.AddrPort) []byte {
	s, d, v4, ok := proxyOutAddrs(src, dst)
	if !ok {
		return append(b, "PROXY UNKNOWN\r\n"...)
	}
	if v4 {
		b = append(b, "PROXY TCP4 "...)
	} else {
		b = append(b, "PROXY TCP6 "...)
	}
	b = s.AppendTo(b)
	b = append(b, ' ')
	b = d.AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(dst.Port()), 10)
	return append(b, '\r', '\n')
}

// AppendProxyV2 appends the v2 header for `proxy_protocol v2`: command
// PROXY over TCP (AF_INET or AF_INET6, STREAM) with the same addresses as
// AppendProxyV1, or AF_UNSPEC with no addresses when either side is not an
// IP address. No TLVs are added. It does not allocate when dst has room.
func AppendProxyV2(b []byte, src, dst netip.AddrPort) []byte {
	b = append(b, proxyV2Sig[:]...)
	b = append(b, 0x21) // version 2, PROXY
	s, d, v4, ok := proxyOutAddrs(src, dst)
	switch {
	case !ok:
		return append(b, 0x00, 0, 0) // AF_UNSPEC, UNSPEC; length 0
	case v4:
		b = append(b, 0x11, 0, 12) // AF_INET, STREAM
		s4, d4 := s.As4(), d.As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
	default:
		b = append(b, 0x21, 0, 36) // AF_INET6, STREAM
		s16, d16 := s.As16(), d.As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

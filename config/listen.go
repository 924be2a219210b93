package config

import (
	"net"
	"net/netip"
	"runtime"
	"strings"
)

// wellKnownPorts infer a server's protocol from its listen ports when it
// has no protocol directive (nginx's per-module port lists).
var wellKnownPorts = map[int]Protocol{143: IMAP, 993: IMAP, 110: POP3, 995: POP3, 25: SMTP, 465: SMTP, 587: SMTP}

// listenParse resolves the address of a listen directive into canonical
// addresses ("127.0.0.1:143", "[::1]:143", "unix:/path") as ngx_parse_url
// does for listen. errMsg is nginx's u.err text. A host name resolves to
// all its addresses.
func listenParse(raw string, lookup func(string) ([]string, error)) (addrs []string, port int, network, errMsg string) {
	if path, ok := strings.CutPrefix(raw, "unix:"); ok {
		if path == "" {
			return nil, 0, "", "no path in the unix domain socket"
		}
		return []string{raw}, 0, "unix", ""
	}
	host, portStr := "", ""
	switch {
	case strings.HasPrefix(raw, "["):
		end := strings.IndexByte(raw, ']')
		if end < 0 {
			return nil, 0, "", "invalid host"
		}
		host = raw[1:end]
		rest := raw[end+1:]
		if rest == "" {
			return nil, 0, "", "no port"
		}
		p, ok := strings.CutPrefix(rest, ":")
		if !ok {
			return nil, 0, "", "invalid host"
		}
		portStr = p
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return nil, 0, "", "invalid IPv6 address"
		}
	case strings.Contains(raw, ":"):
		i := strings.LastIndexByte(raw, ':')
		host, portStr = raw[:i], raw[i+1:]
		if strings.Contains(host, ":") {
			return nil, 0, "", "invalid host"
		}
	default:
		if _, ok := valAtoi(raw); ok {
			host, portStr = "*", raw
		} else {
			return nil, 0, "", "no port"
		}
	}
	n, ok := valAtoi(portStr)
	if !ok || n < 1 || n > 65535 {
		return nil, 0, "", "invalid port"
	}
	if host == "" {
		return nil, 0, "", "no host"
	}
	if host == "*" {
		host = "0.0.0.0"
	}
	var ips []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		ips = append(ips, a)
	} else {
		hs, err := lookup(host)
		if err != nil || len(hs) == 0 {
			return nil, 0, "", "host not found"
		}
		for _, h := range hs {
			if a, err := netip.ParseAddr(h); err == nil {
				ips = append(ips, a)
			}
		}
	}
	seen := map[string]bool{}
	for _, a := range ips {
		s := netip.AddrPortFrom(a.Unmap(), uint16(n)).String()
		if !seen[s] {
			seen[s] = true
			addrs = append(addrs, s)
		}
	}
	return addrs, n, "tcp", ""
}

func setListen(p *parser, d *node) error {
	st := p.cur()
	raw := d.args[0]
	addrs, port, network, msg := listenParse(raw, p.lookup)
	if msg != "" {
		return d.nodeErr(`%s in "%s" of the "listen" directive`, msg, raw)
	}
	// nginx 1.22 prints the address as written; newer versions (and we)
	// print the canonical address, which is what differs in "*:143".
	for _, a := range addrs {
		if p.listens[a] {
			return d.nodeErr(`duplicate "%s" address and port pair`, a)
		}
	}
	l := Listen{Network: network, IPv6Only: -1, File: d.file, Line: d.line}
	for _, v := range d.args[1:] {
		if err := p.listenParam(st, d, &l, v, addrs); err != nil {
			return err
		}
	}
	for _, a := range addrs {
		p.listens[a] = true
		la := l
		la.Addr = a
		st.s.Listens = append(st.s.Listens, la)
	}
	if st.s.Protocol == 0 {
		st.s.Protocol = wellKnownPorts[port]
	}
	return nil
}

// listenParam applies one listen parameter with ngx_mail_core_listen's
// error texts.
func (p *parser) listenParam(st *srvState, d *node, l *Listen, v string, addrs []string) error {
	switch {
	case v == "bind":
		l.Bind = true
	case strings.HasPrefix(v, "backlog="):
		n, ok := valAtoi(v[len("backlog="):])
		if !ok || n == 0 {
			return d.nodeErr(`invalid backlog "%s"`, v)
		}
		l.Backlog, l.Bind = n, true
	case strings.HasPrefix(v, "rcvbuf="):
		n, ok := valSize(v[len("rcvbuf="):])
		if !ok {
			return d.nodeErr(`invalid rcvbuf "%s"`, v)
		}
		l.RcvBuf, l.Bind = n, true
	case strings.HasPrefix(v, "sndbuf="):
		n, ok := valSize(v[len("sndbuf="):])
		if !ok {
			return d.nodeErr(`invalid sndbuf "%s"`, v)
		}
		l.SndBuf, l.Bind = n, true
	case strings.HasPrefix(v, "ipv6only=o"):
		switch v[len("ipv6only=o"):] {
		case "n":
			l.IPv6Only = 1
		case "ff":
			l.IPv6Only = 0
		default:
			return d.nodeErr(`invalid ipv6only flags "%s"`, v[len("ipv6only="):])
		}
		for _, a := range addrs {
			if ap, err := netip.ParseAddrPort(a); err == nil && !ap.Addr().Is6() {
				p.notice("warn", d, `ipv6only is not supported on addr "%s", ignored`, a)
				l.IPv6Only = -1
			}
		}
		l.Bind = true
	case v == "ssl":
		l.SSL = true
		st.listenSSL = true
		st.sslFile, st.sslLine = d.file, d.line
	case v == "proxy_protocol":
		l.ProxyProtocol = true
	case strings.HasPrefix(v, "so_keepalive="):
		ka := v[len("so_keepalive="):]
		if ka != "on" && ka != "off" && !listenKeepaliveOK(ka) {
			return d.nodeErr(`invalid so_keepalive value: "%s"`, ka)
		}
		l.SoKeepalive, l.Bind = ka, true
	case v == "multipath":
		if runtime.GOOS != "linux" {
			return d.nodeErr(`multipath is not supported on this platform`)
		}
		l.Multipath = true
	default:
		return d.nodeErr(`the invalid "%s" parameter`, v)
	}
	return nil
}

// listenKeepaliveOK checks the [keepidle]:[keepintvl]:[keepcnt] form: at
// least one non-zero part, times in seconds, count a number.
func listenKeepaliveOK(s string) bool {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return false
	}
	any := false
	for i, part := range parts {
		if part == "" {
			continue
		}
		if i < 2 {
			t, ok := valTime(part, true)
			if !ok {
				return false
			}
			any = any || t > 0
		} else {
			n, ok := valAtoi(part)
			if !ok {
				return false
			}
			any = any || n > 0
		}
	}
	return any
}

// admin{} is a mailproxy extension: one listen host:port for metrics,
// /livez and /readyz.
func setAdmin(p *parser, d *node) error {
	p.cfg.Admin = &Admin{File: d.file, Line: d.line}
	if err := p.block(d, ctxAdmin); err != nil {
		return err
	}
	if p.cfg.Admin.Listen == "" {
		return errorf(`no "listen" is defined for admin in %s:%d`, d.file, d.line)
	}
	return nil
}

func setAdminListen(p *parser, d *node) error {
	raw := d.args[0]
	host, port, err := net.SplitHostPort(raw)
	if err != nil {
		if _, ok := valAtoi(raw); !ok {
			return d.nodeErr(`invalid address "%s" in "listen" directive of admin`, raw)
		}
		host, port = "", raw
	}
	if n, ok := valAtoi(port); !ok || n < 1 || n > 65535 {
		return d.nodeErr(`invalid port in "%s" of the "listen" directive`, raw)
	}
	if host == "*" {
		host = ""
	}
	p.cfg.Admin.Listen = net.JoinHostPort(host, port)
	return nil
}

func init() {
	tableAdd("mail_core", &directive{name: "listen", ctx: ctxServer, args: arg1More, multi: true, set: setListen})
	tableAdd("mailproxy",
		&directive{name: "admin", ctx: ctxMain, args: argBlock | take0, set: setAdmin},
		&directive{name: "listen", ctx: ctxAdmin, args: take1, set: setAdminListen},
	)
}

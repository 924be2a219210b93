package config

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Edge defence: a mailproxy extension (nginx's mail module has no access
// lists, connection limits or failure counting, reference §8). In mail{}
// and server{}, inherited as nginx's directives are (a server's own
// replace mail's):
//
//	allow ADDRESS | CIDR | unix: | all;       access list, in order,
//	deny  ADDRESS | CIDR | unix: | all;       first match wins (ngx_http_access_module)
//	limit_conn_per_ip N;                      concurrent connections per client address
//	limit_rate_per_ip Nr/s | Nr/m [burst=B];  new connections per client address
//	limit_ipv6_prefix LEN;                    IPv6 addresses counted per /LEN (default 64)
//	limit_preauth N;                          pre-auth connections: this server's (in
//	                                          server{}) or all servers' (in mail{}, not inherited)
//	limit_auth_fail ip=N/PERIOD login=N/PERIOD [ban=TIME] [tarpit=TIME] | off;
//	limit_exempt ADDRESS | CIDR ...;          exempt from the per-address limits
//
// Only in mail{} (the tables are the process's, shared by every server):
//
//	limit_store off | redis://HOST:PORT[/DB];
//	limit_table_size N;                       tracked keys, default DefaultLimitTableSize

// Defaults of limit_auth_fail's optional parameters.
const (
	defaultLimitBan    = 15 * time.Minute
	defaultLimitTarpit = 15 * time.Second // Dovecot's auth penalty tops out at 15 s
)

// setAccess is allow and deny: the two directives build one list. A
// server with either of its own drops the whole inherited list, as
// ngx_http_access_merge_loc_conf does.
func setAccess(p *parser, d *node) error {
	s := &p.cur().s
	if p.ctx == ctxServer {
		if p.inheriting && s.accessOwn {
			return nil
		}
		if !p.inheriting {
			s.accessOwn = true
		}
	}
	r := AccessRule{Allow: d.name == "allow"}
	v := d.args[0]
	switch {
	case v == "all":
		r.All = true
	case v == "unix:":
		r.Unix = true
	default:
		pf, err := netip.ParsePrefix(v)
		if err != nil {
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" {
				return d.nodeErr(`invalid parameter "%s"`, v)
			}
			pf = netip.PrefixFrom(a, a.BitLen())
		} else if pf.Masked() != pf {
			p.notice("warn", d, `low address bits of %s are meaningless`, v)
		}
		pf = pf.Masked()
		if pf.Addr().Is4In6() && pf.Bits() >= 96 {
			pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
		}
		r.Prefix = pf
	}
	s.Access = append(s.Access, r)
	return nil
}

// setLimitRate: Nr/s or Nr/m as limit_req_zone's rate=, then an optional
// burst=N (default: N, so a client may open N at once and then N per
// second or minute).
func setLimitRate(p *parser, d *node) error {
	v := d.args[0]
	per := 0.0
	switch {
	case strings.HasSuffix(v, "r/s"):
		per = 1
	case strings.HasSuffix(v, "r/m"):
		per = 60
	}
	n, ok := 0, false
	if per != 0 {
		n, ok = valAtoi(v[:len(v)-3])
	}
	if !ok || n <= 0 {
		return d.nodeErr(`invalid rate "%s"`, v)
	}
	s := &p.cur().s
	s.LimitRatePerIP = float64(n) / per
	s.LimitRateBurst = n
	for _, a := range d.args[1:] {
		b, found := strings.CutPrefix(a, "burst=")
		if !found {
			return d.nodeErr(`invalid parameter "%s"`, a)
		}
		bn, ok := valAtoi(b)
		if !ok || bn <= 0 {
			return d.nodeErr(`invalid burst value "%s"`, a)
		}
		s.LimitRateBurst = bn
	}
	return nil
}

func setLimitIPv6Prefix(p *parser, d *node) error {
	n, ok := valAtoi(d.args[0])
	if !ok || n < 1 || n > 128 {
		return d.nodeErr(`"%s" directive invalid value`, d.name)
	}
	p.cur().s.LimitIPv6Prefix = n
	return nil
}

// setLimitPreauth: in server{} the server's own cap; in mail{} the cap of
// all servers together, which servers do not inherit.
func setLimitPreauth(p *parser, d *node) error {
	if p.inheriting {
		return nil
	}
	n, ok := valAtoi(d.args[0])
	if !ok {
		return d.nodeErr(`"%s" directive invalid number`, d.name)
	}
	if p.ctx == ctxMail {
		p.cfg.Limits.Preauth = n
		return nil
	}
	p.cur().s.LimitPreauth = n
	return nil
}

// setLimitAuthFail: ip=N/PERIOD login=N/PERIOD ban=TIME tarpit=TIME, in
// any order, at least one budget; or off.
func setLimitAuthFail(p *parser, d *node) error {
	s := &p.cur().s
	if len(d.args) == 1 && d.args[0] == "off" {
		s.LimitAuthFail = AuthFailLimit{}
		return nil
	}
	l := AuthFailLimit{Ban: defaultLimitBan, Tarpit: defaultLimitTarpit}
	budget := func(v string) (int, time.Duration, bool) {
		ns, ps, ok := strings.Cut(v, "/")
		n, ok1 := valAtoi(ns)
		t, ok2 := valTime(ps, true)
		return n, t, ok && ok1 && ok2 && n > 0 && t > 0
	}
	for _, a := range d.args {
		k, v, _ := strings.Cut(a, "=")
		ok := false
		switch k {
		case "ip":
			l.IP, l.IPPeriod, ok = budget(v)
		case "login":
			l.Login, l.LoginPeriod, ok = budget(v)
		case "ban":
			l.Ban, ok = valTime(v, true)
			ok = ok && l.Ban > 0
		case "tarpit":
			l.Tarpit, ok = valTime(v, false)
		}
		if !ok {
			return d.nodeErr(`invalid parameter "%s"`, a)
		}
	}
	if l.IP == 0 && l.Login == 0 {
		return d.nodeErr(`"%s" directive needs ip= or login=`, d.name)
	}
	s.LimitAuthFail = l
	return nil
}

// setLimitExempt: addresses and CIDRs; repeatable, the first at a level
// replaces the inherited list.
func setLimitExempt(p *parser, d *node) error {
	s := &p.cur().s
	if p.first(d) {
		s.LimitExempt = nil
	}
	for _, v := range d.args {
		pf, err := netip.ParsePrefix(v)
		if err != nil {
			a, err := netip.ParseAddr(v)
			if err != nil || a.Zone() != "" {
				return d.nodeErr(`invalid parameter "%s"`, v)
			}
			pf = netip.PrefixFrom(a, a.BitLen())
		} else if pf.Masked() != pf {
			p.notice("warn", d, `low address bits of %s are meaningless`, v)
		}
		s.LimitExempt = append(s.LimitExempt, pf.Masked())
	}
	return nil
}

func setLimitStore(p *parser, d *node) error {
	v := d.args[0]
	l := &p.cfg.Limits
	if v == "off" {
		l.Store, l.StoreAddr, l.StoreDB = "", "", 0
		return nil
	}
	bad := func() error {
		return d.nodeErr(`invalid value "%s" in "%s" directive, it must be "off" or "redis://HOST:PORT[/DB]"`, v, d.name)
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "redis" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return bad()
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return bad()
	}
	if n, ok := valAtoi(port); !ok || n < 1 || n > 65535 {
		return bad()
	}
	db := 0
	if path := strings.TrimPrefix(u.Path, "/"); path != "" {
		n, ok := valAtoi(path)
		if !ok {
			return bad()
		}
		db = n
	}
	l.Store, l.StoreAddr, l.StoreDB = v, net.JoinHostPort(host, port), db
	return nil
}

func setLimitTableSize(p *parser, d *node) error {
	n, ok := valAtoi(d.args[0])
	if !ok || n < 1 {
		return d.nodeErr(`"%s" directive invalid number`, d.name)
	}
	p.cfg.Limits.TableSize = n
	return nil
}

// String renders a rule as written, for logs and tests.
func (r AccessRule) String() string {
	v := "deny "
	if r.Allow {
		v = "allow "
	}
	switch {
	case r.All:
		return v + "all"
	case r.Unix:
		return v + "unix:"
	}
	return v + r.Prefix.String()
}

func init() {
	tableAdd("mailproxy",
		&directive{name: "allow", ctx: ctxMailServer, args: take1, multi: true, set: setAccess},
		&directive{name: "deny", ctx: ctxMailServer, args: take1, multi: true, set: setAccess},
		slotNum("limit_conn_per_ip", func(s *Server) *int { return &s.LimitConnPerIP }),
		&directive{name: "limit_rate_per_ip", ctx: ctxMailServer, args: take12, set: setLimitRate},
		&directive{name: "limit_ipv6_prefix", ctx: ctxMailServer, args: take1, set: setLimitIPv6Prefix},
		&directive{name: "limit_preauth", ctx: ctxMailServer, args: take1, set: setLimitPreauth},
		&directive{name: "limit_auth_fail", ctx: ctxMailServer, args: take1 | take2 | take3 | take4, set: setLimitAuthFail},
		&directive{name: "limit_exempt", ctx: ctxMailServer, args: arg1More, multi: true, set: setLimitExempt},
		&directive{name: "limit_store", ctx: ctxMail, args: take1, set: setLimitStore},
		&directive{name: "limit_table_size", ctx: ctxMail, args: take1, set: setLimitTableSize},
	)
}

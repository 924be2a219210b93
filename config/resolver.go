package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"mailproxy/loop/dns"
)

// The resolver directive (ngx_mail_core_resolver → ngx_resolver_create):
//
//	resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off] | off;
//
// Addresses are name servers, "ip", "ip:port", "[ipv6]" or "[ipv6]:port"
// or a host name resolved now; the port defaults to 53. The error texts
// are nginx 1.22's (checked with nginx -t); ipv4= is nginx 1.23.1's.

// setResolver fills Server.Resolver with "ip:port" name servers and the
// options. "resolver off" (nginx: a first argument "off") is always
// accepted; addresses only once the engine supports them.
func setResolver(p *parser, d *node) error {
	s := &p.cur().s
	if d.args[0] == "off" {
		s.Resolver, s.ResolverValid, s.ResolverIPv4, s.ResolverIPv6 = nil, 0, false, false
		return nil
	}
	var servers []string
	s.ResolverValid, s.ResolverIPv4, s.ResolverIPv6 = 0, true, true
	for _, a := range d.args {
		if err := resolverOption(s, d, a); err != errResolverNotOption {
			if err != nil {
				return err
			}
			continue
		}
		addrs, err := resolverAddr(p, d, a)
		if err != nil {
			return err
		}
		servers = append(servers, addrs...)
	}
	if !s.ResolverIPv4 && !s.ResolverIPv6 {
		return d.nodeErr(`"ipv4" and "ipv6" cannot both be "off"`)
	}
	if len(servers) == 0 {
		return d.nodeErr("no name servers defined")
	}
	s.Resolver = servers
	return nil
}

var errResolverNotOption = errorf("not an option")

// resolverOption applies valid=, ipv4=, ipv6=; it returns
// errResolverNotOption for an argument that is an address.
func resolverOption(s *Server, d *node, a string) error {
	name, v, ok := strings.Cut(a, "=")
	if !ok {
		return errResolverNotOption
	}
	switch name {
	case "valid":
		t, ok := valTime(v, true)
		if !ok {
			return d.nodeErr("invalid parameter: %s", a)
		}
		s.ResolverValid = t
	case "ipv4", "ipv6":
		var on bool
		switch v {
		case "on":
			on = true
		case "off":
		default:
			return d.nodeErr("invalid parameter: %s", a)
		}
		if name == "ipv4" {
			s.ResolverIPv4 = on
		} else {
			s.ResolverIPv6 = on
		}
	default:
		return errResolverNotOption
	}
	return nil
}

// resolverAddr turns one address argument into "ip:port" name servers.
func resolverAddr(p *parser, d *node, a string) ([]string, error) {
	if strings.HasPrefix(a, "unix:") {
		// nginx 1.22 takes it and never uses it; refusing says so.
		return nil, d.nodeErr(`a unix socket cannot be a name server in resolver "%s"`, a)
	}
	host, port := a, "53"
	switch {
	case strings.HasPrefix(a, "["):
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return nil, d.nodeErr(`invalid host in resolver "%s"`, a)
		}
		host = a[1:end]
		if rest := a[end+1:]; rest != "" {
			if rest[0] != ':' {
				return nil, d.nodeErr(`invalid host in resolver "%s"`, a)
			}
			port = rest[1:]
		}
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return nil, d.nodeErr(`invalid host in resolver "%s"`, a)
		}
	case strings.IndexByte(a, ':') >= 0:
		// Like ngx_parse_url, the first colon starts the port, so a bare
		// IPv6 address is an invalid port.
		i := strings.IndexByte(a, ':')
		host, port = a[:i], a[i+1:]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
		return nil, d.nodeErr(`invalid port in resolver "%s"`, a)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{net.JoinHostPort(ip.String(), port)}, nil
	}
	addrs, err := p.lookup(host)
	if host == "" || err != nil || len(addrs) == 0 {
		return nil, d.nodeErr(`host not found in resolver "%s"`, a)
	}
	out := make([]string, 0, len(addrs))
	for _, h := range addrs {
		if ip, err := netip.ParseAddr(h); err == nil {
			out = append(out, net.JoinHostPort(ip.String(), port))
		}
	}
	return out, nil
}

// resolverHasAddr reports whether the name servers of s's resolver
// directive give host an address (A with ipv4 on, AAAA with ipv6 on),
// each question within resolver_timeout; once per load for a set of
// servers and a name. Without a resolver directive, no.
func (p *parser) resolverHasAddr(s *Server, host string) bool {
	if len(s.Resolver) == 0 {
		return false
	}
	key := strings.Join(s.Resolver, ",") + " " + strconv.FormatBool(s.ResolverIPv4) + strconv.FormatBool(s.ResolverIPv6) + " " + host
	if ok, seen := p.resolverFound[key]; seen {
		return ok
	}
	ok := p.lookupDNS(s.Resolver, s.ResolverTimeout, s.ResolverIPv4, s.ResolverIPv6, host)
	if p.resolverFound == nil {
		p.resolverFound = map[string]bool{}
	}
	p.resolverFound[key] = ok
	return ok
}

// lookupDNS asks servers for host's addresses at load time (auth_http
// names with a resolver directive); tests replace it to stay off the
// network.
var lookupDNS = func(servers []string, timeout time.Duration, ipv4, ipv6 bool, host string) bool {
	c := &dns.Client{Servers: servers, Timeout: timeout}
	name := strings.TrimSuffix(host, ".")
	for _, q := range [2]struct {
		on    bool
		qtype uint16
	}{{ipv4, dns.TypeA}, {ipv6, dns.TypeAAAA}} {
		if q.on {
			if r := c.Ask(name, q.qtype); r.Code == dns.OK && len(r.Addrs) > 0 {
				return true
			}
		}
	}
	return false
}

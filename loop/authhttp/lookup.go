package authhttp

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"mailproxy/loop/dns"
)

// How an auth_http host name is looked up, in the order an operator
// expects of a URL's host name (nsswitch's usual "hosts: files dns"):
//
//  1. /etc/hosts, read again at each lookup. It has no TTL: its
//     addresses are used for ResolvePeriod.
//  2. DNS, with the records' TTLs: the name servers of the resolver
//     directive of the server{} block when it has one (valid= then
//     replaces the TTLs, as in nginx's resolver; ipv4=off / ipv6=off
//     leave out A / AAAA), otherwise the nameserver lines of
//     /etc/resolv.conf (port 53, read again at each lookup). A and AAAA
//     are asked one after the other, every address of both answers is
//     used, and the set expires at the smallest TTL of the records used
//     (at most ResolveMaxTTL; a family with no records does not shorten
//     it). Each lookup asks through a new loop/dns Client, whose cache
//     ends with it: the address set is the cache, and its expiry (capped,
//     floored) is the one that counts.
//  3. Go's resolver, for ResolvePeriod, where the stub client cannot do
//     what the system's resolver would: resolv.conf has no name server,
//     or a search list applies to the name (fewer dots than ndots; the
//     search list is resolv.conf's search/domain line or, without one,
//     the domain of the host's name, as glibc and Go take it), or the
//     name was not found and a search list could still find it.
//
// When the resolver directive's name servers answer that the name does
// not exist (or has no address), steps 2 (resolv.conf) and 3 are tried:
// nginx looks auth_http up with the system's resolver, and a name only
// the system's name servers know keeps working with a resolver set for
// SMTP's client lookups.

// Resolver is the DNS side of a Client's host-name lookups: the resolver
// directive of its server{} block, or the zero Resolver for
// /etc/resolv.conf's name servers.
type Resolver struct {
	Servers        []string      // "ip:port" (resolver directive); none: resolv.conf's
	Timeout        time.Duration // resolver_timeout; the call's own deadline bounds it too
	Valid          time.Duration // valid=: how long answers are used, whatever their TTLs; 0: the TTLs
	NoIPv4, NoIPv6 bool          // ipv4=off, ipv6=off: no A, no AAAA question
}

// Key names the settings, for a caller that keeps one Client per
// endpoint and resolver.
func (r Resolver) Key() string {
	if len(r.Servers) == 0 {
		return "resolv.conf"
	}
	return strings.Join(r.Servers, ",") + "|" + r.Timeout.String() + "|" + r.Valid.String() + "|" +
		strconv.FormatBool(r.NoIPv4) + strconv.FormatBool(r.NoIPv6)
}

// nameLookup is the lookup of one Client's host name (authAddrs.lookup).
// Safe for concurrent use: it keeps no state between lookups.
type nameLookup struct {
	res        Resolver
	hostsPath  string                                                       // /etc/hosts
	resolvPath string                                                       // /etc/resolv.conf
	hostname   func() (string, error)                                       // os.Hostname: the default search domain
	ask        func(c *dns.Client, name string, qtype uint16) dns.Result    // (*dns.Client).Ask
	goLookup   func(ctx context.Context, host string) ([]netip.Addr, error) // net.DefaultResolver
}

func newNameLookup(r Resolver) *nameLookup {
	return &nameLookup{res: r, hostsPath: "/etc/hosts", resolvPath: "/etc/resolv.conf", hostname: os.Hostname,
		ask: (*dns.Client).Ask,
		goLookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}}
}

// lookup returns the addresses of name and how long to use them.
func (l *nameLookup) lookup(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	if addrs := hostsAddrs(l.hostsPath, name); len(addrs) > 0 {
		return addrs, ResolvePeriod, nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(authDialFallback)
	}
	if len(l.res.Servers) > 0 {
		addrs, ttl, err := l.askDNS(l.res, name, deadline)
		if len(addrs) > 0 || !isNotFound(err) {
			return addrs, ttl, err
		}
	}
	rc := readResolvConf(l.resolvPath, l.hostname)
	if !rc.direct(name) {
		addrs, err := l.goLookup(ctx, name)
		return addrs, ResolvePeriod, err
	}
	addrs, ttl, err := l.askDNS(Resolver{Servers: rc.servers}, name, deadline)
	if len(addrs) == 0 && isNotFound(err) && rc.search && !strings.HasSuffix(name, ".") {
		addrs, err := l.goLookup(ctx, name) // the search list may find it
		return addrs, ResolvePeriod, err
	}
	return addrs, ttl, err
}

// askDNS asks r's name servers for the A and AAAA records of name, each
// question within r.Timeout (when set) and deadline. Every address of both
// answers is used; one family failing while the other has addresses is
// not an error.
func (l *nameLookup) askDNS(r Resolver, name string, deadline time.Time) ([]netip.Addr, time.Duration, error) {
	name = strings.TrimSuffix(name, ".")
	c := &dns.Client{Servers: r.Servers}
	var addrs []netip.Addr
	var ttl uint32
	failed := dns.OK
	for _, q := range [2]struct {
		off   bool
		qtype uint16
	}{{r.NoIPv4, dns.TypeA}, {r.NoIPv6, dns.TypeAAAA}} {
		if q.off {
			continue
		}
		c.Timeout = time.Until(deadline)
		if r.Timeout > 0 {
			c.Timeout = min(c.Timeout, r.Timeout)
		}
		if c.Timeout <= 0 {
			failed = dns.TimedOut
			break
		}
		res := l.ask(c, name, q.qtype)
		switch {
		case res.Code == dns.OK && len(res.Addrs) > 0:
			if len(addrs) == 0 || res.TTL < ttl {
				ttl = res.TTL
			}
			addrs = append(addrs, res.Addrs...)
		case res.Code == dns.OK || res.Code == dns.NXDomain:
			// no records of this family
		default:
			failed = res.Code
		}
	}
	if len(addrs) > 0 {
		d := min(time.Duration(ttl)*time.Second, ResolveMaxTTL)
		if r.Valid > 0 {
			d = r.Valid
		}
		return addrs, d, nil
	}
	if failed != dns.OK {
		return nil, 0, &net.DNSError{Err: dns.CodeText(failed), Name: name, Server: strings.Join(r.Servers, ","),
			IsTimeout: failed == dns.TimedOut, IsTemporary: true}
	}
	return nil, 0, &net.DNSError{Err: "no such host", Name: name, Server: strings.Join(r.Servers, ","), IsNotFound: true}
}

func isNotFound(err error) bool {
	de, ok := err.(*net.DNSError)
	return ok && de.IsNotFound
}

// hostsAddrs returns the addresses /etc/hosts (path) gives name, in file
// order; names compare without case and without a final dot. A file that
// cannot be read gives none.
func hostsAddrs(path, name string) []netip.Addr {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	name = strings.TrimSuffix(name, ".")
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, h := range f[1:] {
			if strings.EqualFold(strings.TrimSuffix(h, "."), name) {
				out = append(out, ip)
				break
			}
		}
	}
	return out
}

// resolvConf is what of /etc/resolv.conf decides whether a name can go
// straight to its name servers.
type resolvConf struct {
	servers []string // "ip:53"
	search  bool     // a search list applies (search/domain line, or the host's domain)
	ndots   int
}

// readResolvConf reads path as glibc does for the parts that matter here:
// nameserver lines, the last search or domain line, options ndots:N.
// Without a search or domain line, the domain of the host's name is the
// search list (glibc, and Go's resolver).
func readResolvConf(path string, hostname func() (string, error)) resolvConf {
	rc := resolvConf{ndots: 1}
	data, err := os.ReadFile(path)
	if err != nil {
		return rc
	}
	searchSet := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0][0] == '#' || f[0][0] == ';' {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				if ip, err := netip.ParseAddr(f[1]); err == nil {
					rc.servers = append(rc.servers, net.JoinHostPort(ip.String(), "53"))
				}
			}
		case "search", "domain":
			searchSet = true
			rc.search = false
			for _, d := range f[1:] {
				if d != "." && d[0] != '#' && d[0] != ';' {
					rc.search = true
				}
			}
		case "options":
			for _, o := range f[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok {
					if n, err := strconv.Atoi(v); err == nil && n >= 0 {
						rc.ndots = min(n, 15)
					}
				}
			}
		}
	}
	if !searchSet {
		if h, err := hostname(); err == nil {
			if i := strings.IndexByte(h, '.'); i >= 0 && i < len(h)-1 {
				rc.search = true
			}
		}
	}
	return rc
}

// direct reports whether name can be asked as it is of rc's name servers,
// with the system's resolver giving the same answer: there are name
// servers, and the name is absolute (a final dot), or no search list
// applies to it first.
func (rc resolvConf) direct(name string) bool {
	if len(rc.servers) == 0 {
		return false
	}
	if strings.HasSuffix(name, ".") || !rc.search {
		return true
	}
	return strings.Count(name, ".") >= rc.ndots
}

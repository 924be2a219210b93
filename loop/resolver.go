package loop

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/config"
	"mailproxy/loop/dns"
)

// The SMTP resolver (reference §3.3.4, nginx's ngx_mail_smtp_init_session
// and its two resolve handlers). With `resolver` set, an SMTP session
// starts with a PTR lookup of the client address; the name must be made of
// [A-Za-z0-9.-] only (nginx 1.29.7, CVE-2026-28753); a forward lookup of
// the name must give the client's address back. The result, a name or
// [UNAVAILABLE] / [TEMPUNAVAIL], is Client-Host in auth_http and NAME= in
// XCLIENT. Until the lookups end the greeting is held back and the client
// is not read (nginx's block_reading); smtp_greeting_delay runs after.
//
// The lookups run in the worker pool with the stub client of loop/dns;
// the result comes back to the loop with Execute. Each lookup may take
// resolver_timeout, asking the name servers in nginx's order (loop/dns
// Client.Ask); answers nginx ignores count as none, so they end in the
// timeout, and nginx's lines about them are logged here with the
// session's context. Answers
// are cached per server{} for valid= or their TTL; a reload starts with an
// empty cache.
//
// Differences from nginx, all in corner cases: the forward lookup asks
// only for the client's family (A for an IPv4 client, AAAA for IPv6; the
// other family can never match), and a client whose family is turned off
// with ipv4=off / ipv6=off gets [UNAVAILABLE] without a query; when the
// worker pool is full the session goes on at once with [TEMPUNAVAIL]
// (nginx closes it when it cannot start a lookup); a PTR answered with a
// CNAME only is followed (nginx ignores the answer and times out).

const (
	hostUnavailable = "[UNAVAILABLE]"
	hostTempUnavail = "[TEMPUNAVAIL]"
)

// resolverRT is one server{} block's resolver: its DNS client and cache,
// and the families it asks for. Safe for concurrent use.
type resolverRT struct {
	dns        *dns.Client
	ipv4, ipv6 bool
}

// newResolverRT returns nil when c has no resolver.
func newResolverRT(c *config.Server) *resolverRT {
	if len(c.Resolver) == 0 {
		return nil
	}
	return &resolverRT{dns: &dns.Client{Servers: c.Resolver, Timeout: c.ResolverTimeout, Valid: c.ResolverValid},
		ipv4: c.ResolverIPv4, ipv6: c.ResolverIPv6}
}

// smtpHost is the session's Client-Host / NAME= value.
func (s *session) smtpHost() string {
	if s.clientHost == "" {
		return hostUnavailable
	}
	return s.clientHost
}

// resolveStart begins the lookups for s; greet calls it. It reports false
// when there is nothing to wait for and the greeting can go now. Called on
// the loop.
func (sc *smtpConf) resolveStart(s *session) bool {
	r := sc.res
	ip, err := netip.ParseAddr(s.clientIP)
	if err != nil {
		s.clientHost = hostUnavailable // a unix socket client, as nginx
		return false
	}
	ip = ip.Unmap()
	s.wait = waitResolver
	s.pauseRead(true)
	// nginx runs no client timer while resolving; a backstop in case a
	// result never comes back: both lookups, then `timeout`.
	s.loop.arm(s, time.Now().Add(2*r.dns.Timeout+s.cfg().Timeout).UnixNano())
	el := s.loop.el
	ok := s.srv.rt.pool.TrySubmit(func() {
		host, msgs := r.clientHost(ip)
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			s.onLoop("resolver answer", func() { sc.resolveDone(s, host, msgs) })
			return nil
		}))
	})
	if !ok {
		s.errorf("resolver worker pool is full")
		s.clientHost = hostTempUnavail
		s.resumeRead(true)
		s.armTimeout()
		return false
	}
	return true
}

// resolveDone takes the result, greets and reads what the client sent
// meanwhile. Called on the loop.
func (sc *smtpConf) resolveDone(s *session, host string, msgs []string) {
	if s.closed || s.phase != PhasePreAuth || s.wait != waitResolver {
		return
	}
	s.wait = waitNone
	s.clientHost = host
	for _, m := range msgs {
		s.errorf(m)
	}
	s.resumeRead(true)
	s.armTimeout()
	if g := sc.greet(s); len(g) > 0 {
		s.write(g)
	}
	s.processPending()
}

// clientHost runs both lookups for ip and returns the host and the error
// lines to log: nginx's about skipped records and ignored answers, then
// its verdict. Runs in a worker.
func (r *resolverRT) clientHost(ip netip.Addr) (host string, logMsgs []string) {
	ptr := r.dns.Ask(dns.PTRName(ip), dns.TypePTR)
	logMsgs = ptr.Notes
	host, msg := resolverDecide(ip, ptr, func(name string) dns.Result {
		var res dns.Result
		switch {
		case ip.Is4() && r.ipv4:
			res = r.dns.Ask(name, dns.TypeA)
		case ip.Is6() && r.ipv6:
			res = r.dns.Ask(name, dns.TypeAAAA)
		default:
			return dns.Result{Code: dns.OK}
		}
		logMsgs = append(logMsgs, res.Notes...)
		return res
	})
	if msg != "" {
		logMsgs = append(logMsgs, msg)
	}
	return host, logMsgs
}

// resolverDecide is nginx's decision table: the host for the client at ip
// given the PTR answer and the forward lookup, and the error line nginx
// logs ("" for none).
func resolverDecide(ip netip.Addr, ptr dns.Result, forward func(name string) dns.Result) (host, logMsg string) {
	if ptr.Code != dns.OK || len(ptr.Names) == 0 {
		code := ptr.Code
		if code == dns.OK {
			code = dns.NXDomain // no PTR record: nginx's "Host not found"
		}
		return resolverFallback(code), ip.String() + " could not be resolved (" +
			resolverCode(code) + ") while in resolving client address"
	}
	name := ptr.Names[0]
	if !resolverValidName(name) {
		return hostTempUnavail, ip.String() + ` resolved to invalid host name "` +
			printable([]byte(name)) + `" while in resolving client address`
	}
	fwd := forward(name)
	if fwd.Code != dns.OK {
		return resolverFallback(fwd.Code), `"` + name + `" could not be resolved (` +
			resolverCode(fwd.Code) + ") while in resolving client hostname"
	}
	for _, a := range fwd.Addrs {
		if a.Unmap() == ip {
			return name, ""
		}
	}
	return hostUnavailable, ""
}

// resolverFallback: NXDOMAIN (and an empty answer) is [UNAVAILABLE],
// every other failure [TEMPUNAVAIL].
func resolverFallback(code int) string {
	if code == dns.NXDomain || code == dns.OK {
		return hostUnavailable
	}
	return hostTempUnavail
}

func resolverCode(code int) string {
	return strconv.Itoa(code) + ": " + dns.CodeText(code)
}

// resolverValidName is the check of nginx 1.29.7: a host name made of
// letters, digits, dots and hyphens only. Anything else could smuggle
// text into XCLIENT or auth_http.
func resolverValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i] | 0x20
		if (c < 'a' || c > 'z') && (name[i] < '0' || name[i] > '9') && name[i] != '.' && name[i] != '-' {
			return false
		}
	}
	return true
}

package loop

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/config"
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
// The lookups run in the worker pool with the stub client of
// resolver_dns.go; the result comes back to the loop with Execute. Each
// lookup may take resolver_timeout, asking the name servers in turn
// (round robin) every resolverResend. Answers are cached per server{} for
// valid= or their TTL; a reload starts with an empty cache.
//
// Differences from nginx, all in corner cases: the forward lookup asks
// only for the client's family (A for an IPv4 client, AAAA for IPv6; the
// other family can never match), and a client whose family is turned off
// with ipv4=off / ipv6=off gets [UNAVAILABLE] without a query; when the
// worker pool is full the session goes on at once with [TEMPUNAVAIL]
// (nginx closes it when it cannot start a lookup).

func init() {
	config.SetSupported("resolver", true)
	config.SetSupported("resolver_timeout", true)
}

const (
	// smtpResolving is session.state while the lookups run (pre-auth).
	smtpResolving uint8 = 90

	// resolverResend is how long one name server gets before the next is
	// asked (nginx's resolver resend_timeout).
	resolverResend = 5 * time.Second
	// resolverCacheMax bounds the cache of one server{} block.
	resolverCacheMax = 10000

	hostUnavailable = "[UNAVAILABLE]"
	hostTempUnavail = "[TEMPUNAVAIL]"
)

// resolverRT is one server{} block's resolver. Safe for concurrent use
// (the workers share it).
type resolverRT struct {
	servers    []string // "ip:port"
	timeout    time.Duration
	valid      time.Duration
	ipv4, ipv6 bool
	next       atomic.Uint32 // round robin over servers

	mu    sync.Mutex
	cache map[resolverKey]resolverEntry
}

type resolverKey struct {
	qtype uint16
	name  string
}

type resolverEntry struct {
	res   dnsResult
	until time.Time
}

// newResolverRT returns nil when c has no resolver.
func newResolverRT(c *config.Server) *resolverRT {
	if len(c.Resolver) == 0 {
		return nil
	}
	return &resolverRT{servers: c.Resolver, timeout: c.ResolverTimeout, valid: c.ResolverValid,
		ipv4: c.ResolverIPv4, ipv6: c.ResolverIPv6, cache: map[resolverKey]resolverEntry{}}
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
	s.state = smtpResolving
	s.pauseRead(true)
	// nginx runs no client timer while resolving; a backstop in case a
	// result never comes back: both lookups, then `timeout`.
	s.loop.arm(s, time.Now().Add(2*r.timeout+s.cfg().Timeout).UnixNano())
	el := s.loop.el
	ok := s.srv.rt.pool.TrySubmit(func() {
		host, msg := r.clientHost(ip)
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			sc.resolveDone(s, host, msg)
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
func (sc *smtpConf) resolveDone(s *session, host, msg string) {
	if s.closed || s.phase != PhasePreAuth || s.state != smtpResolving {
		return
	}
	s.clientHost = host
	if msg != "" {
		s.errorf(msg)
	}
	s.resumeRead(true)
	s.armTimeout()
	if g := sc.greet(s); len(g) > 0 {
		s.write(g)
	}
	s.processPending()
}

// clientHost runs both lookups for ip. Runs in a worker.
func (r *resolverRT) clientHost(ip netip.Addr) (host, logMsg string) {
	return resolverDecide(ip, r.ask(dnsPTRName(ip), dnsTypePTR), func(name string) dnsResult {
		switch {
		case ip.Is4() && r.ipv4:
			return r.ask(name, dnsTypeA)
		case ip.Is6() && r.ipv6:
			return r.ask(name, dnsTypeAAAA)
		}
		return dnsResult{code: dnsOK}
	})
}

// resolverDecide is nginx's decision table: the host for the client at ip
// given the PTR answer and the forward lookup, and the error line nginx
// logs ("" for none).
func resolverDecide(ip netip.Addr, ptr dnsResult, forward func(name string) dnsResult) (host, logMsg string) {
	if ptr.code != dnsOK || len(ptr.names) == 0 {
		code := ptr.code
		if code == dnsOK {
			code = dnsNXDomain // no PTR record: nginx's "Host not found"
		}
		return resolverFallback(code), ip.String() + " could not be resolved (" +
			resolverCode(code) + ") while in resolving client address"
	}
	name := ptr.names[0]
	if !resolverValidName(name) {
		return hostTempUnavail, ip.String() + ` resolved to invalid host name "` +
			printable([]byte(name)) + `" while in resolving client address`
	}
	fwd := forward(name)
	if fwd.code != dnsOK {
		return resolverFallback(fwd.code), `"` + name + `" could not be resolved (` +
			resolverCode(fwd.code) + ") while in resolving client hostname"
	}
	for _, a := range fwd.addrs {
		if a.Unmap() == ip {
			return name, ""
		}
	}
	return hostUnavailable, ""
}

// resolverFallback: NXDOMAIN (and an empty answer) is [UNAVAILABLE],
// every other failure [TEMPUNAVAIL].
func resolverFallback(code int) string {
	if code == dnsNXDomain || code == dnsOK {
		return hostUnavailable
	}
	return hostTempUnavail
}

func resolverCode(code int) string {
	return strconv.Itoa(code) + ": " + dnsCodeText(code)
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

// ask answers one question from the cache or the name servers, within
// resolver_timeout. Runs in a worker.
func (r *resolverRT) ask(name string, qtype uint16) dnsResult {
	key := resolverKey{qtype, name}
	now := time.Now()
	r.mu.Lock()
	e, ok := r.cache[key]
	r.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.res
	}
	deadline := now.Add(r.timeout)
	start := int(r.next.Add(1))
	failed := 0
	for i := 0; ; i++ {
		server := r.servers[(start+i)%len(r.servers)]
		at := time.Now().Add(resolverResend)
		if at.After(deadline) {
			at = deadline
		}
		res, err := dnsExchange(server, name, qtype, at)
		if err == nil {
			r.store(key, res)
			return res
		}
		if !time.Now().Before(deadline) {
			return dnsResult{code: dnsTimedOut}
		}
		// An error before this server's turn ended (ICMP unreachable,
		// no route): go on with the next, but stop after a whole round
		// of such errors rather than spin until the deadline.
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			failed = 0
		} else if failed++; failed >= len(r.servers) {
			return dnsResult{code: dnsTimedOut}
		}
	}
}

// store caches a positive answer or NXDOMAIN for valid= or its TTL.
func (r *resolverRT) store(key resolverKey, res dnsResult) {
	if res.code != dnsOK && res.code != dnsNXDomain {
		return
	}
	ttl := time.Duration(res.ttl) * time.Second
	if r.valid > 0 {
		ttl = r.valid
	}
	if ttl <= 0 {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= resolverCacheMax {
		for k, e := range r.cache {
			if !now.Before(e.until) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache {
			if len(r.cache) < resolverCacheMax {
				break
			}
			delete(r.cache, k) // map order: an arbitrary victim
		}
	}
	r.cache[key] = resolverEntry{res: res, until: now.Add(ttl)}
}

package authhttp

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// How long the addresses of an auth_http host name are used (lookup.go
// says where they come from).
const (
	// ResolvePeriod is the period for addresses without a TTL: those of
	// /etc/hosts, and those of Go's resolver where the DNS client cannot
	// stand in for it.
	ResolvePeriod = 30 * time.Second
	// ResolveMinTTL is the least time any set is used: a TTL of 0 (or a
	// valid= below a second) does not mean a lookup per login.
	ResolveMinTTL = time.Second
	// ResolveMaxTTL caps a DNS TTL, so that a record changed behind a
	// day-long TTL reaches the proxy within minutes; a lookup every ten
	// minutes per name costs nothing. valid= is the operator's and is
	// not capped.
	ResolveMaxTTL = 10 * time.Minute
	// ResolveRetry is how long after a failed lookup the next one may
	// start; until then the old addresses are used, or, when there are
	// none, the dial fails at once with the lookup's error.
	ResolveRetry = time.Second
)

// authAddrs is the address set of one host name: every address of the
// name is dialed in turn, and a refused one hands the dial to the next.
//
// Goroutines: safe for concurrent use (workers dialing). A lookup runs in
// the dialing worker that found the set expired; the others keep dialing
// the old addresses meanwhile (while there are none yet, each dialing
// worker looks up on its own).
type authAddrs struct {
	name string // host name as written (no brackets)
	port string

	mu      sync.Mutex
	addrs   []netip.Addr
	expires time.Time // when to look up again: the set's TTL, or ResolveRetry after a failure
	err     error     // the last lookup's failure while there are no addresses
	looking bool
	next    atomic.Uint32
	gen     atomic.Uint64 // bumped when the set loses an address (retired)

	lookup func(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) // nameLookup, or a test's
	now    func() time.Time                                                            // time.Now, or a test's clock
}

func newAuthAddrs(hostport string) *authAddrs {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // an IP literal needs no resolving
	}
	return &authAddrs{name: host, port: port, lookup: newNameLookup(Resolver{}).lookup, now: time.Now}
}

// candidates returns the addresses to dial, in the order to try them:
// the set rotated by one on each call, so connections spread over every
// address of the name (fresh looks the name up first when it is due).
func (r *authAddrs) candidates(deadline time.Time) ([]string, error) {
	addrs, err := r.fresh(deadline)
	if err != nil {
		return nil, err
	}
	n := len(addrs)
	start := int(r.next.Add(1)) % n
	out := make([]string, 0, n)
	for i := range n {
		a := addrs[(start+i)%n].Unmap()
		out = append(out, net.JoinHostPort(a.String(), r.port))
	}
	return out, nil
}

// fresh returns the set, after looking the name up when the set is empty
// or expired, by deadline (half of the time left when there is an old set
// to fall back on, so that the call can still use it); a failed lookup
// keeps the old set.
func (r *authAddrs) fresh(deadline time.Time) ([]netip.Addr, error) {
	r.mu.Lock()
	now := r.now()
	stale := !now.Before(r.expires)
	if !stale && len(r.addrs) == 0 {
		err := r.err // failed less than ResolveRetry ago
		r.mu.Unlock()
		return nil, err
	}
	mine := stale && (!r.looking || len(r.addrs) == 0)
	if mine {
		r.looking = true
	}
	addrs := r.addrs
	r.mu.Unlock()
	if !mine {
		return addrs, nil
	}
	by := deadline
	if len(addrs) > 0 {
		by = now.Add(deadline.Sub(now) / 2)
	}
	ctx, cancel := context.WithDeadline(context.Background(), by)
	got, ttl, err := r.lookup(ctx, r.name)
	cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.looking = false
	now = r.now()
	if err == nil && len(got) > 0 {
		if dropsAny(r.addrs, got) {
			r.gen.Add(1)
		}
		r.addrs, r.err = got, nil
		r.expires = now.Add(max(ttl, ResolveMinTTL))
		return got, nil
	}
	r.expires = now.Add(ResolveRetry)
	if len(r.addrs) > 0 {
		return r.addrs, nil
	}
	if err == nil {
		err = &net.DNSError{Err: "no addresses", Name: r.name, IsNotFound: true}
	}
	r.err = err
	return nil, err
}

// retired reports whether a kept-alive connection to remote, dialed when
// the set's generation was *gen, should be replaced before its next
// request: the set, looked up again first when due (fresh, by deadline),
// lost an address since, and remote is no longer in it. A connection
// whose address stays has its generation brought up to date, so the set
// is searched once per change.
func (r *authAddrs) retired(remote net.Addr, gen *uint64, deadline time.Time) bool {
	addrs, err := r.fresh(deadline)
	g := r.gen.Load()
	if err != nil || g == *gen {
		return false
	}
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return false
	}
	if hasAddr(addrs, ap.Addr()) {
		*gen = g
		return false
	}
	return true
}

// dropsAny reports whether some address of old is not in cur.
func dropsAny(old, cur []netip.Addr) bool {
	for _, a := range old {
		if !hasAddr(cur, a) {
			return true
		}
	}
	return false
}

// hasAddr reports whether set holds a, IPv4-mapped or not.
func hasAddr(set []netip.Addr, a netip.Addr) bool {
	a = a.Unmap()
	return slices.ContainsFunc(set, func(b netip.Addr) bool { return b.Unmap() == a })
}

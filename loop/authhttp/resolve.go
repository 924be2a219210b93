package authhttp

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ResolvePeriod is how long the addresses of an auth_http host name are
// used before the name is looked up again. Go's resolver (which reads
// /etc/hosts and resolv.conf, as an operator expects of a URL) does not
// return the records' TTL, so the period is fixed rather than the TTL.
const ResolvePeriod = 30 * time.Second

// authAddrs is the address set of one host name: every address of the
// name is dialed in turn, and a refused one hands the dial to the next.
//
// Goroutines: safe for concurrent use (workers dialing). A lookup runs in
// the dialing worker that found the set expired; the others keep dialing
// the old addresses meanwhile.
type authAddrs struct {
	name string // host name as written (no brackets)
	port string

	mu      sync.Mutex
	addrs   []netip.Addr
	expires time.Time
	looking bool
	next    atomic.Uint32

	lookup func(ctx context.Context, host string) ([]netip.Addr, error) // net.DefaultResolver, or a test's
}

func newAuthAddrs(hostport string) *authAddrs {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // an IP literal needs no resolving
	}
	return &authAddrs{name: host, port: port, lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}}
}

// candidates returns the addresses to dial, in the order to try them:
// the set rotated by one on each call, so connections spread over every
// address of the name. It looks the name up when the set is empty or
// expired (by deadline); a failed lookup keeps the old set.
func (r *authAddrs) candidates(deadline time.Time) ([]string, error) {
	r.mu.Lock()
	now := time.Now()
	stale := now.After(r.expires)
	mine := stale && (!r.looking || len(r.addrs) == 0)
	if mine {
		r.looking = true
	}
	addrs := r.addrs
	r.mu.Unlock()
	if mine {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		got, err := r.lookup(ctx, r.name)
		cancel()
		r.mu.Lock()
		r.looking = false
		if err == nil && len(got) > 0 {
			r.addrs, addrs = got, got
			r.expires = time.Now().Add(ResolvePeriod)
		} else if len(r.addrs) == 0 {
			r.mu.Unlock()
			if err == nil {
				err = &net.DNSError{Err: "no addresses", Name: r.name, IsNotFound: true}
			}
			return nil, err
		}
		addrs = r.addrs
		r.mu.Unlock()
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

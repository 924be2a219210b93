package limits

import (
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"mailproxy/config"
)

// Reason is why a connection or a login was refused; it labels the
// refusal metric and the log line.
type Reason uint8

// Refusal reasons.
const (
	None    Reason = iota
	Access         // allow/deny
	ConnCap        // limit_conn_per_ip
	Rate           // limit_rate_per_ip
	Preauth        // limit_preauth (a server's or all servers')
	Budget         // limit_auth_fail: the address or the login is banned
	NumReasons
)

var reasonNames = [NumReasons]string{"none", "access", "conn_cap", "rate", "preauth", "budget"}

// String is the reason's label value.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Policy is one server's limits, made from its configuration. Immutable.
type Policy struct {
	Access    []config.AccessRule
	Exempt    []netip.Prefix
	ConnPerIP int
	Rate      float64 // tokens per second
	Burst     float64
	V6Prefix  int
	Preauth   int
	Fail      config.AuthFailLimit
}

// NewPolicy returns s's limits, or nil when neither s nor m sets any (the
// session core then skips every call).
func NewPolicy(s *config.Server, m config.MailLimits) *Policy {
	if len(s.Access) == 0 && s.LimitConnPerIP == 0 && s.LimitRatePerIP == 0 && s.LimitPreauth == 0 &&
		s.LimitAuthFail.IP == 0 && s.LimitAuthFail.Login == 0 && m.Preauth == 0 {
		return nil
	}
	p := &Policy{
		Access: s.Access, Exempt: s.LimitExempt, ConnPerIP: s.LimitConnPerIP,
		Rate: s.LimitRatePerIP, Burst: float64(s.LimitRateBurst), V6Prefix: s.LimitIPv6Prefix,
		Preauth: s.LimitPreauth, Fail: s.LimitAuthFail,
	}
	if p.V6Prefix == 0 {
		p.V6Prefix = 64
	}
	if p.Burst < 1 {
		p.Burst = 1
	}
	return p
}

// Budgets reports whether failed logins are counted.
func (p *Policy) Budgets() bool { return p != nil && (p.Fail.IP > 0 || p.Fail.Login > 0) }

// Allowed applies the access list: the first rule matching wins; no match
// (or no list) allows. unix is a connection over a UNIX-domain socket.
func (p *Policy) Allowed(a netip.Addr, unix bool) bool {
	a = a.Unmap()
	for i := range p.Access {
		r := &p.Access[i]
		switch {
		case r.All, r.Unix && unix, !unix && !r.Unix && r.Prefix.IsValid() && r.Prefix.Contains(a):
			return r.Allow
		}
	}
	return true
}

// IsExempt reports whether a is in limit_exempt.
func (p *Policy) IsExempt(a netip.Addr) bool {
	a = a.Unmap()
	for _, pf := range p.Exempt {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// Counter counts one server's pre-auth connections. Limiter.Counter keeps
// it across reloads, by name.
type Counter struct{ n atomic.Int64 }

// Load is the count now.
func (c *Counter) Load() int64 { return c.n.Load() }

// Hold is what a connection let in holds: released by Release when the
// session ends (and its pre-auth part by LeavePreauth). Owned by the
// session's loop.
type Hold struct {
	key  Key
	conn bool     // counted in conns
	pre  *Counter // counted in this server's pre-auth count
	all  bool     // counted in the pre-auth count of all servers
}

// Limiter holds the tables of the running process; see doc.go.
type Limiter struct {
	conns   *conns
	hot     *lru
	trusted *lru

	preauthAll atomic.Int64
	preauthMax atomic.Int64 // limit_preauth in mail{}; 0 = off

	countersMu sync.Mutex
	counters   map[string]*Counter

	logs logThrottle

	store   atomic.Pointer[Store] // limit_store; nil = in-process only
	storeMu sync.Mutex            // Configure's, for opening and closing stores
}

// New makes the tables with room for size keys each (0: the default).
func New(size int) *Limiter {
	if size <= 0 {
		size = config.DefaultLimitTableSize
	}
	return &Limiter{
		conns: newConns(), hot: newLRU(size), trusted: newLRU(size),
		counters: map[string]*Counter{},
	}
}

// Configure applies the process-wide settings of a (re)loaded
// configuration; the tables and their contents stay. A changed
// limit_store closes the old store and opens the new one; log is where the
// store reports trouble. Called at start and reload, not on loops.
func (l *Limiter) Configure(m config.MailLimits, log *slog.Logger) {
	l.storeMu.Lock()
	if old := l.store.Load(); old == nil || old.URL() != m.Store {
		if old != nil {
			l.store.Store(nil)
			old.Close()
		}
		if m.Store != "" {
			l.OpenStore(m.Store, m.StoreAddr, m.StoreDB, log)
		}
	}
	l.storeMu.Unlock()
	size := m.TableSize
	if size <= 0 {
		size = config.DefaultLimitTableSize
	}
	l.hot.setSize(size)
	l.trusted.setSize(size)
	l.preauthMax.Store(int64(m.Preauth))
}

// Counter returns the pre-auth counter named name (a server's listener),
// the same one across reloads. Called at start and reload, not on loops.
func (l *Limiter) Counter(name string) *Counter {
	l.countersMu.Lock()
	defer l.countersMu.Unlock()
	c := l.counters[name]
	if c == nil {
		c = &Counter{}
		l.counters[name] = c
	}
	return c
}

// Tracked is the number of keys in the hot and trusted tables, for the
// gauge.
func (l *Limiter) Tracked() int64 { return l.hot.n.Load() + l.trusted.n.Load() }

// Admit decides on a new connection from a (the final client address,
// after any PROXY header) under p. pre is the server's pre-auth counter
// (nil: none). It returns the hold to release when the session ends (nil
// when there is nothing to release) or why it refused; a refused
// connection holds nothing. now is unix nanos.
func (l *Limiter) Admit(p *Policy, a netip.Addr, unix bool, pre *Counter, now int64) (*Hold, Reason) {
	if p == nil {
		return nil, None
	}
	if !p.Allowed(a, unix) {
		return nil, Access
	}
	var h Hold
	perAddr := !unix && a.IsValid() && !p.IsExempt(a)
	if perAddr {
		h.key = AddrKey(a, p.V6Prefix)
		if p.Rate > 0 && !l.takeToken(p, h.key, now) {
			return nil, Rate
		}
		if p.ConnPerIP > 0 {
			if !l.conns.acquire(h.key, p.ConnPerIP) {
				return nil, ConnCap
			}
			h.conn = true
		}
	}
	if pre != nil && p.Preauth > 0 {
		if pre.n.Add(1) > int64(p.Preauth) {
			pre.n.Add(-1)
			l.Release(&h)
			return nil, Preauth
		}
		h.pre = pre
	}
	if max := l.preauthMax.Load(); max > 0 {
		if l.preauthAll.Add(1) > max {
			l.preauthAll.Add(-1)
			l.Release(&h)
			return nil, Preauth
		}
		h.all = true
	}
	if !h.conn && h.pre == nil && !h.all {
		return nil, None
	}
	out := new(Hold) // h stays on the stack for the refused and hold-nothing cases
	*out = h
	return out, None
}

// takeToken takes one token from the address's bucket: Burst tokens,
// refilled at Rate per second.
func (l *Limiter) takeToken(p *Policy, k Key, now int64) bool {
	ok := false
	l.hot.with(k, true, func(e *entry, fresh bool) {
		if fresh || e.last == 0 {
			e.tokens, e.last = p.Burst, now
		} else if now > e.last {
			e.tokens = min(p.Burst, e.tokens+float64(now-e.last)/1e9*p.Rate)
			e.last = now
		}
		if e.tokens >= 1 {
			e.tokens--
			ok = true
		}
	})
	return ok
}

// LeavePreauth takes a session out of the pre-auth counts: it has entered
// auth. Safe on a nil hold and more than once.
func (l *Limiter) LeavePreauth(h *Hold) {
	if h == nil {
		return
	}
	if h.pre != nil {
		h.pre.n.Add(-1)
		h.pre = nil
	}
	if h.all {
		l.preauthAll.Add(-1)
		h.all = false
	}
}

// Release returns what h holds. Safe on a nil hold and more than once.
func (l *Limiter) Release(h *Hold) {
	if h == nil {
		return
	}
	l.LeavePreauth(h)
	if h.conn {
		l.conns.release(h.key)
		h.conn = false
	}
}

// Close closes the store, if any.
func (l *Limiter) Close() {
	l.storeMu.Lock()
	defer l.storeMu.Unlock()
	if s := l.store.Swap(nil); s != nil {
		s.Close()
	}
}

// PreauthAll is the pre-auth count of all servers (tests, metrics).
func (l *Limiter) PreauthAll() int64 { return l.preauthAll.Load() }

package authhttp

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"mailproxy/codec"
	"mailproxy/config"
)

// DownPeriod is how long a server of a Group that did not answer is left
// out; after it, one request probes the server, and its outcome decides.
const DownPeriod = 10 * time.Second

// ErrAllDown: every server of a Group is marked down and none is due for
// a probe; the session gets the internal error, as when the one server of
// nginx's auth_http does not answer.
var ErrAllDown = errors.New("all auth http servers are down")

// health is the up/down state and the counters of one Client, shared by
// every Group that uses it (servers that name the same URL).
type health struct {
	downUntil atomic.Int64 // unix nanoseconds; 0: up
	probing   atomic.Bool  // a probe request is in flight
	requests  atomic.Uint64
	errors    atomic.Uint64
}

// Requests, Errors and Up are the per-server metrics: requests sent,
// those that ended in an error, and whether the server is in service.
func (c *Client) Requests() uint64 { return c.h.requests.Load() }
func (c *Client) Errors() uint64   { return c.h.errors.Load() }
func (c *Client) Up() bool         { return c.h.downUntil.Load() == 0 }

// Group is the servers of one auth_http directive (extension: several
// URLs). Requests go round robin over the servers in service. A server
// that refuses, resets, closes or times out before any byte of its answer
// is marked down for DownPeriod, and the same request goes to the next
// server within what is left of the call's timeout; an answer, even a bad
// one, is final (the server is alive, and a second server would not make
// a broken answer right). With one URL (nginx's config) the server is
// never marked down: every login asks it, as nginx does.
//
// Goroutines: safe for concurrent use; Do blocks (worker pool).
type Group struct {
	cs     []*Client
	next   atomic.Uint32
	onDown func(c *Client, err error) // called when a server is marked down; may be nil
	down   time.Duration              // DownPeriod; tests shorten it
}

// NewGroup returns a Group over cs (at least one). onDown, if not nil, is
// called (in the worker) each time a server is marked down.
func NewGroup(cs []*Client, onDown func(c *Client, err error)) *Group {
	if len(cs) == 0 || len(cs) > 32 {
		panic("BUG: auth_http group of " + strconv.Itoa(len(cs)) + " servers")
	}
	return &Group{cs: cs, onDown: onDown, down: DownPeriod}
}

// Clients returns the group's servers, in config order.
func (g *Group) Clients() []*Client { return g.cs }

// usable reports whether c may take a request now; probe is set when the
// request is c's probe after its down period (the caller must end it).
func (c *Client) usable(now int64) (ok, probe bool) {
	until := c.h.downUntil.Load()
	if until == 0 {
		return true, false
	}
	if now < until || !c.h.probing.CompareAndSwap(false, true) {
		return false, false
	}
	return true, true
}

// eligible is usable without taking the probe: for sharing the timeout.
func (c *Client) eligible(now int64) bool {
	until := c.h.downUntil.Load()
	return until == 0 || (now >= until && !c.h.probing.Load())
}

// Do sends the request to one server of the group, failing over as the
// Group doc says, and returns the server that gave the last answer or
// error (its Addr names it in log lines). timeout bounds the whole call;
// while more than one server remains, an attempt gets an equal share of
// what is left, so that a server that accepts and says nothing leaves
// time for the next one.
func (g *Group) Do(r *codec.AuthRequest, extra []config.Header, timeout time.Duration, out *codec.AuthResponse) (*Client, error) {
	if len(g.cs) == 1 {
		c := g.cs[0]
		c.h.requests.Add(1)
		err := c.Do(r, extra, timeout, out)
		if err != nil {
			c.h.errors.Add(1)
		}
		return c, err
	}
	deadline := time.Now().Add(timeout)
	n := len(g.cs)
	start := int(g.next.Add(1))
	var tried uint32 // bit j: cs[j] was asked (at most authHTTPMaxServers = 16 URLs)
	var last *Client
	var lastErr error
	for {
		now := time.Now()
		left := deadline.Sub(now)
		if left <= 0 {
			break
		}
		var c *Client
		var probe bool
		share := 0
		for i := range n {
			j := (start + i) % n
			if tried&(1<<j) != 0 {
				continue
			}
			if c == nil {
				if ok, p := g.cs[j].usable(now.UnixNano()); ok {
					c, probe = g.cs[j], p
					tried |= 1 << j
					share++
					continue
				}
			}
			if g.cs[j].eligible(now.UnixNano()) {
				share++
			}
		}
		if c == nil {
			break
		}
		*out = codec.AuthResponse{}
		c.h.requests.Add(1)
		err := c.Do(r, extra, left/time.Duration(share), out)
		if err == nil || !errors.Is(err, errSilent) {
			if err != nil {
				c.h.errors.Add(1)
			}
			c.h.downUntil.Store(0)
			if probe {
				c.h.probing.Store(false)
			}
			return c, err
		}
		c.h.errors.Add(1)
		c.h.downUntil.Store(time.Now().Add(g.down).UnixNano())
		if probe {
			c.h.probing.Store(false)
		}
		if g.onDown != nil {
			g.onDown(c, err)
		}
		last, lastErr = c, err
	}
	if lastErr != nil {
		return last, lastErr
	}
	return g.cs[0], &authError{msg: ErrAllDown.Error(), errs: []error{ErrAllDown}}
}

// Close closes the idle connections of every server.
func (g *Group) Close() {
	for _, c := range g.cs {
		c.Close()
	}
}

package authhttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"mailproxy/codec"
)

func splitHostPort(a string) (string, string, error) {
	ap, err := netip.ParseAddrPort(a)
	return ap.Addr().String(), fmt.Sprint(ap.Port()), err
}

// resolveRig is an authAddrs for auth.test:143 with a test clock and a
// lookup whose answer the test sets; it counts the lookups.
type resolveRig struct {
	t       *testing.T
	r       *authAddrs
	clock   time.Time
	addrs   []netip.Addr
	ttl     time.Duration
	err     error
	lookups int
	ctxLeft time.Duration // time the last lookup was given
}

func newResolveRig(t *testing.T) *resolveRig {
	g := &resolveRig{t: t, clock: time.Unix(1_000_000, 0)}
	g.r = newAuthAddrs("auth.test:143")
	g.r.now = func() time.Time { return g.clock }
	g.r.lookup = func(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
		if host != "auth.test" {
			t.Errorf("looked up %q", host)
		}
		g.lookups++
		d, _ := ctx.Deadline()
		g.ctxLeft = d.Sub(g.clock)
		return g.addrs, g.ttl, g.err
	}
	return g
}

func (g *resolveRig) answer(ttl time.Duration, err error, addrs ...string) {
	g.ttl, g.err, g.addrs = ttl, err, nil
	for _, a := range addrs {
		g.addrs = append(g.addrs, netip.MustParseAddr(a))
	}
}

// dial is one dial's candidates at the rig's clock, as a sorted set.
func (g *resolveRig) dial() ([]string, error) {
	g.t.Helper()
	got, err := g.r.candidates(g.clock.Add(10 * time.Second))
	slices.Sort(got)
	return got, err
}

// expect checks the candidates and the number of lookups so far.
func (g *resolveRig) expect(after time.Duration, lookups int, want ...string) {
	g.t.Helper()
	g.clock = g.clock.Add(after)
	got, err := g.dial()
	if err != nil || !slices.Equal(got, want) || g.lookups != lookups {
		g.t.Fatalf("+%v: candidates %v (%v) after %d lookups, want %v after %d", after, got, err, g.lookups, want, lookups)
	}
}

// The set is used until its TTL is over, and looked up again then.
func TestResolveExpiresAtTTL(t *testing.T) {
	g := newResolveRig(t)
	g.answer(5*time.Second, nil, "127.0.0.2")
	g.expect(0, 1, "127.0.0.2:143")
	g.answer(5*time.Second, nil, "127.0.0.3")
	g.expect(4*time.Second, 1, "127.0.0.2:143")
	g.expect(999*time.Millisecond, 1, "127.0.0.2:143")
	g.expect(time.Millisecond, 2, "127.0.0.3:143") // 5 s after the first
	g.expect(time.Second, 2, "127.0.0.3:143")
}

// A TTL of 0 (or anything under a second) is used for ResolveMinTTL:
// not a lookup per login.
func TestResolveTTLFloor(t *testing.T) {
	g := newResolveRig(t)
	g.answer(0, nil, "127.0.0.2")
	g.expect(0, 1, "127.0.0.2:143")
	for range 5 {
		g.expect(100*time.Millisecond, 1, "127.0.0.2:143")
	}
	g.expect(ResolveMinTTL-500*time.Millisecond, 2, "127.0.0.2:143")
	g.answer(300*time.Millisecond, nil, "127.0.0.2")
	g.expect(ResolveMinTTL-time.Millisecond, 2, "127.0.0.2:143")
	g.expect(time.Millisecond, 3, "127.0.0.2:143")
}

// A failed lookup keeps the old set, and the next lookup waits for
// ResolveRetry instead of coming with the next dial.
func TestResolveFailureKeepsOldSet(t *testing.T) {
	g := newResolveRig(t)
	g.answer(5*time.Second, nil, "127.0.0.2", "127.0.0.3")
	g.expect(0, 1, "127.0.0.2:143", "127.0.0.3:143")
	g.answer(0, &net.DNSError{Err: "server misbehaving", Name: "auth.test", IsTemporary: true})
	g.expect(5*time.Second, 2, "127.0.0.2:143", "127.0.0.3:143")
	g.expect(0, 2, "127.0.0.2:143", "127.0.0.3:143")
	g.expect(ResolveRetry-time.Millisecond, 2, "127.0.0.2:143", "127.0.0.3:143")
	g.answer(0, nil) // no error, no address: a failure too
	g.expect(time.Millisecond, 3, "127.0.0.2:143", "127.0.0.3:143")
	g.answer(time.Minute, nil, "127.0.0.4")
	g.expect(ResolveRetry, 4, "127.0.0.4:143")
}

// Without an old set a failure is the dial's error, and it stays the
// answer until ResolveRetry has passed.
func TestResolveFailureWithoutSet(t *testing.T) {
	g := newResolveRig(t)
	nx := &net.DNSError{Err: "no such host", Name: "auth.test", IsNotFound: true}
	g.answer(0, nx)
	f := func(after time.Duration, lookups int) {
		t.Helper()
		g.clock = g.clock.Add(after)
		got, err := g.dial()
		if !errors.Is(err, nx) || got != nil || g.lookups != lookups {
			t.Fatalf("+%v: %v %v after %d lookups, want the lookup's error after %d", after, got, err, g.lookups, lookups)
		}
	}
	f(0, 1)
	f(0, 1)
	f(ResolveRetry-time.Millisecond, 1)
	f(time.Millisecond, 2)
	g.answer(time.Minute, nil, "127.0.0.2")
	g.expect(ResolveRetry, 3, "127.0.0.2:143")
}

// A lookup with an old set to fall back on gets half of the call's time,
// so that a name server that does not answer leaves time to dial; the
// first lookup gets it all.
func TestResolveRefreshLeavesTimeToDial(t *testing.T) {
	g := newResolveRig(t)
	g.answer(time.Second, nil, "127.0.0.2")
	g.expect(0, 1, "127.0.0.2:143")
	if g.ctxLeft != 10*time.Second {
		t.Fatalf("first lookup given %v, want the whole 10s", g.ctxLeft)
	}
	g.expect(time.Second, 2, "127.0.0.2:143")
	if g.ctxLeft != 5*time.Second {
		t.Fatalf("refresh given %v, want 5s", g.ctxLeft)
	}
}

// A kept-alive connection is replaced once its address left the set, and
// only then.
func TestResolveRetired(t *testing.T) {
	g := newResolveRig(t)
	g.answer(time.Second, nil, "127.0.0.2", "127.0.0.3")
	gen := g.r.gen.Load()
	g.expect(0, 1, "127.0.0.2:143", "127.0.0.3:143")
	on2, on3 := gen, gen
	f := func(remote string, gen *uint64, want bool) {
		t.Helper()
		if got := g.r.retired(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(remote)), gen, g.clock.Add(10*time.Second)); got != want {
			t.Fatalf("retired(%s) = %v, want %v", remote, got, want)
		}
	}
	f("127.0.0.2:143", &on2, false)
	g.answer(time.Second, nil, "127.0.0.3", "127.0.0.4") // 127.0.0.2 dropped
	g.expect(time.Second, 2, "127.0.0.3:143", "127.0.0.4:143")
	f("127.0.0.2:143", &on2, true)
	f("[::ffff:127.0.0.3]:143", &on3, false)
	if on3 != g.r.gen.Load() {
		t.Fatal("a connection whose address stayed did not catch up with the set")
	}
	g.answer(time.Second, nil, "127.0.0.3", "127.0.0.4", "127.0.0.5") // only added
	g.expect(time.Second, 3, "127.0.0.3:143", "127.0.0.4:143", "127.0.0.5:143")
	f("127.0.0.3:143", &on3, false)
}

// Every address of a name is dialed in turn; a refused one hands the
// dial to the next.
func TestResolveEveryAddress(t *testing.T) {
	s := authStartServer(t, "tcp", "127.0.0.1:0", authOK)
	_, port, _ := splitHostPort(s.addr())
	c := NewClient("auth.test:"+port, "auth.test", "/", 4)
	defer c.Close()
	lookups := 0
	c.res.lookup = func(_ context.Context, host string) ([]netip.Addr, time.Duration, error) {
		lookups++
		return []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")}, time.Minute, nil
	}
	got, err := c.res.candidates(time.Now().Add(time.Second))
	if err != nil || len(got) != 2 || got[0] == got[1] {
		t.Fatalf("candidates %v %v", got, err)
	}
	again, _ := c.res.candidates(time.Now().Add(time.Second))
	if again[0] != got[1] || lookups != 1 {
		t.Fatalf("no rotation (%v then %v) or %d lookups", got, again, lookups)
	}
	for i := range 2 {
		var out codec.AuthResponse
		if err := c.Do(authTestRequest(), nil, 5*time.Second, &out); err != nil || !out.OK {
			t.Fatalf("call %d: %v", i, err)
		}
		c.Close() // a new connection each time: both orders of the addresses
	}
}

// When the name moves to another address, the calls after the set
// expired reach the new server, also over the connection kept alive to
// the old one: it is replaced before its next request.
func TestResolveMovedNameLeavesKeptConnection(t *testing.T) {
	old := authStartServer(t, "tcp", "127.0.0.2:0", authOK)
	_, port, _ := splitHostPort(old.addr())
	var moved *authTestServer
	for i := 0; moved == nil; i++ {
		ln, err := net.Listen("tcp", "127.0.0.3:"+port)
		if err != nil {
			if i == 20 {
				t.Skipf("127.0.0.3:%s stays taken: %v", port, err)
			}
			old = authStartServer(t, "tcp", "127.0.0.2:0", authOK)
			_, port, _ = splitHostPort(old.addr())
			continue
		}
		moved = authServeOn(t, ln, authOK)
	}
	c := NewClient("auth.test:"+port, "auth.test", "/", 4)
	defer c.Close()
	clock := time.Now()
	c.res.now = func() time.Time { return clock }
	addr := netip.MustParseAddr("127.0.0.2")
	c.res.lookup = func(context.Context, string) ([]netip.Addr, time.Duration, error) {
		return []netip.Addr{addr}, 5 * time.Second, nil
	}
	call := func() {
		t.Helper()
		var out codec.AuthResponse
		if err := c.Do(authTestRequest(), nil, 5*time.Second, &out); err != nil || !out.OK {
			t.Fatalf("call: %v", err)
		}
	}
	for range 3 {
		call()
	}
	if n := len(old.reqs); n != 3 || c.ConnsOpened() != 1 {
		t.Fatalf("old server: %d requests on %d connections, want 3 on one", n, c.ConnsOpened())
	}
	addr = netip.MustParseAddr("127.0.0.3")
	call() // the set has not expired: still the old server
	clock = clock.Add(5 * time.Second)
	for range 3 {
		call()
	}
	if n, m := len(old.reqs), len(moved.reqs); n != 4 || m != 3 || c.ConnsOpened() != 2 {
		t.Fatalf("after the move: old %d, new %d requests, %d connections; want 4, 3, 2", n, m, c.ConnsOpened())
	}
}

package authhttp

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailproxy/loop/dns"
)

// lookupRig is a nameLookup over a hosts file and a resolv.conf of the
// test's, a DNS whose answers the test sets per "TYPE name", and a fake
// Go resolver; it records what was asked of each.
type lookupRig struct {
	t     *testing.T
	l     *nameLookup
	dir   string
	dns   map[string]dns.Result // "A name" / "AAAA name", or "SERVERS A name" for those servers only
	asked []string              // "SERVERS TYPE name" in order
	goAns []netip.Addr
	goErr error
	goN   int
}

func newLookupRig(t *testing.T, r Resolver, hosts, resolv string) *lookupRig {
	g := &lookupRig{t: t, dir: t.TempDir(), dns: map[string]dns.Result{}}
	g.l = newNameLookup(r)
	g.l.hostsPath = filepath.Join(g.dir, "hosts")
	g.l.resolvPath = filepath.Join(g.dir, "resolv.conf")
	g.l.hostname = func() (string, error) { return "mx1", nil }
	g.write("hosts", hosts)
	g.write("resolv.conf", resolv)
	g.l.ask = func(c *dns.Client, name string, qtype uint16) dns.Result {
		if c.Timeout <= 0 {
			t.Errorf("asked %s with timeout %v", name, c.Timeout)
		}
		key := map[uint16]string{dns.TypeA: "A ", dns.TypeAAAA: "AAAA "}[qtype] + name
		g.asked = append(g.asked, strings.Join(c.Servers, ",")+" "+key)
		if res, ok := g.dns[strings.Join(c.Servers, ",")+" "+key]; ok {
			return res
		}
		if res, ok := g.dns[key]; ok {
			return res
		}
		return dns.Result{Code: dns.NXDomain}
	}
	g.l.goLookup = func(context.Context, string) ([]netip.Addr, error) {
		g.goN++
		return g.goAns, g.goErr
	}
	return g
}

func (g *lookupRig) write(name, text string) {
	g.t.Helper()
	if err := os.WriteFile(filepath.Join(g.dir, name), []byte(text), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// run looks name up and checks the addresses (joined by spaces), the
// period, and the questions asked ("" none).
func (g *lookupRig) run(name, want string, period time.Duration, asked string) {
	g.t.Helper()
	g.asked = nil
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, ttl, err := g.l.lookup(ctx, name)
	var got []string
	for _, a := range addrs {
		got = append(got, a.String())
	}
	if strings.Join(got, " ") != want || (want != "" && ttl != period) || strings.Join(g.asked, "; ") != asked {
		g.t.Fatalf("%s: %v for %v (%v), asked %q; want %q for %v, asked %q", name, got, ttl, err, g.asked, want, period, asked)
	}
	if want == "" && err == nil {
		g.t.Fatalf("%s: no address and no error", name)
	}
}

func addrsOf(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// /etc/hosts comes first, read at each lookup, for ResolvePeriod; then
// resolv.conf's name servers with the smallest TTL of the records used.
func TestLookupHostsThenResolvConf(t *testing.T) {
	g := newLookupRig(t, Resolver{}, "127.0.0.1 localhost\n192.0.2.7 Auth.Example.com auth # the auth box\n#192.0.2.8 auth.example.com\n",
		"# comment\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:1\n")
	g.dns["A auth.example.com"] = dns.Result{Addrs: addrsOf("192.0.2.1", "192.0.2.2"), TTL: 300}
	g.dns["AAAA auth.example.com"] = dns.Result{Addrs: addrsOf("2001:db8::1"), TTL: 60}
	g.run("auth.example.com", "192.0.2.7", ResolvePeriod, "")
	g.run("AUTH.example.com.", "192.0.2.7", ResolvePeriod, "")
	g.write("hosts", "127.0.0.1 localhost\n")
	const both = "192.0.2.53:53,[2001:db8::53]:53 A auth.example.com; 192.0.2.53:53,[2001:db8::53]:53 AAAA auth.example.com"
	g.run("auth.example.com", "192.0.2.1 192.0.2.2 2001:db8::1", time.Minute, both)
	g.run("auth.example.com.", "192.0.2.1 192.0.2.2 2001:db8::1", time.Minute, both)
	// A family without records does not shorten the set's life.
	delete(g.dns, "AAAA auth.example.com")
	g.run("auth.example.com", "192.0.2.1 192.0.2.2", 5*time.Minute, both)
	// A day-long TTL is capped.
	g.dns["A auth.example.com"] = dns.Result{Addrs: addrsOf("192.0.2.1"), TTL: 86400}
	g.run("auth.example.com", "192.0.2.1", ResolveMaxTTL, both)
	// One family failing while the other answers is no failure.
	g.dns["AAAA auth.example.com"] = dns.Result{Code: dns.TimedOut}
	g.run("auth.example.com", "192.0.2.1", ResolveMaxTTL, both)
	if g.goN != 0 {
		t.Fatalf("Go's resolver asked %d times", g.goN)
	}
}

// Where the stub client would not give the system's answer, Go's
// resolver is asked, for ResolvePeriod.
func TestLookupGoResolverFallback(t *testing.T) {
	f := func(resolv, hostname, name string, wantGo bool) {
		t.Helper()
		g := newLookupRig(t, Resolver{}, "", resolv)
		g.l.hostname = func() (string, error) { return hostname, nil }
		g.dns["A "+strings.TrimSuffix(name, ".")] = dns.Result{Addrs: addrsOf("192.0.2.1"), TTL: 60}
		g.goAns = addrsOf("192.0.2.9")
		if wantGo {
			g.run(name, "192.0.2.9", ResolvePeriod, "")
		} else {
			g.run(name, "192.0.2.1", time.Minute, "192.0.2.53:53 A "+strings.TrimSuffix(name, ".")+"; 192.0.2.53:53 AAAA "+strings.TrimSuffix(name, "."))
		}
	}
	const ns = "nameserver 192.0.2.53\n"
	f("", "mx1", "auth.example.com", true)                                          // no name server
	f("nameserver not-an-ip\n", "mx1", "auth.example.com", true)                    // none usable
	f(ns, "mx1", "auth", false)                                                     // no search list: asked as is
	f(ns+"search corp.example\n", "mx1", "auth", true)                              // the search list goes first
	f(ns+"domain corp.example\n", "mx1", "auth", true)                              // domain is a search list of one
	f(ns, "mx1.corp.example", "auth", true)                                         // the host's domain is the default search list
	f(ns+"search corp.example\n", "mx1", "auth.", false)                            // absolute
	f(ns+"search corp.example\n", "mx1", "auth.example.com", false)                 // dots ≥ ndots: asked as is first
	f(ns+"search corp.example\noptions ndots:5\n", "mx1", "auth.example.com", true) // Kubernetes' ndots:5
	f(ns+"search corp.example\nsearch .\n", "mx1", "auth", false)                   // the last line counts; "." is no domain

	// Not found as is, with a search list that might find it.
	g := newLookupRig(t, Resolver{}, "", ns+"search corp.example\n")
	g.goAns = addrsOf("192.0.2.9")
	g.run("auth.example.com", "192.0.2.9", ResolvePeriod, "192.0.2.53:53 A auth.example.com; 192.0.2.53:53 AAAA auth.example.com")
	// A failure (not "not found") is not handed to Go's resolver.
	g.dns["A auth.example.com"] = dns.Result{Code: dns.ServFail}
	g.dns["AAAA auth.example.com"] = dns.Result{Code: dns.ServFail}
	g.run("auth.example.com", "", 0, "192.0.2.53:53 A auth.example.com; 192.0.2.53:53 AAAA auth.example.com")
	if g.goN != 1 {
		t.Fatalf("Go's resolver asked %d times, want 1", g.goN)
	}
}

// With the resolver directive its name servers are asked, its valid=
// replaces the TTLs, ipv4=off / ipv6=off leave a question out; a name
// they do not know goes on to the system's lookup; /etc/hosts still
// comes first.
func TestLookupResolverDirective(t *testing.T) {
	r := Resolver{Servers: []string{"127.0.0.1:5353", "127.0.0.2:5353"}, Timeout: 2 * time.Second}
	g := newLookupRig(t, r, "192.0.2.7 hosts.example.com\n", "nameserver 192.0.2.53\n")
	g.dns["A auth.example.com"] = dns.Result{Addrs: addrsOf("192.0.2.1"), TTL: 1}
	g.dns["AAAA auth.example.com"] = dns.Result{Addrs: addrsOf("2001:db8::1"), TTL: 30}
	const srv = "127.0.0.1:5353,127.0.0.2:5353 "
	g.run("auth.example.com", "192.0.2.1 2001:db8::1", time.Second, srv+"A auth.example.com; "+srv+"AAAA auth.example.com")
	g.run("hosts.example.com", "192.0.2.7", ResolvePeriod, "")
	g.run("other.example.com", "", 0, srv+"A other.example.com; "+srv+"AAAA other.example.com; "+
		"192.0.2.53:53 A other.example.com; 192.0.2.53:53 AAAA other.example.com")
	g.dns["192.0.2.53:53 A sys.example.com"] = dns.Result{Addrs: addrsOf("192.0.2.3"), TTL: 120}
	g.run("sys.example.com", "192.0.2.3", 2*time.Minute, srv+"A sys.example.com; "+srv+"AAAA sys.example.com; "+
		"192.0.2.53:53 A sys.example.com; 192.0.2.53:53 AAAA sys.example.com")
	// A failure of the resolver's servers is the answer: old addresses stay.
	g.dns["A fail.example.com"] = dns.Result{Code: dns.TimedOut}
	g.run("fail.example.com", "", 0, srv+"A fail.example.com; "+srv+"AAAA fail.example.com")

	g.l.res.Valid = 10 * time.Minute
	g.run("auth.example.com", "192.0.2.1 2001:db8::1", 10*time.Minute, srv+"A auth.example.com; "+srv+"AAAA auth.example.com")
	g.l.res.Valid = 2 * time.Hour // the operator's: not capped
	g.run("auth.example.com", "192.0.2.1 2001:db8::1", 2*time.Hour, srv+"A auth.example.com; "+srv+"AAAA auth.example.com")
	g.l.res.Valid, g.l.res.NoIPv6 = 0, true
	g.run("auth.example.com", "192.0.2.1", time.Second, srv+"A auth.example.com")
	g.l.res.NoIPv4, g.l.res.NoIPv6 = true, false
	g.run("auth.example.com", "2001:db8::1", 30*time.Second, srv+"AAAA auth.example.com")
}

// The questions share the call's deadline, each bounded by
// resolver_timeout too; none is sent once the deadline has passed.
func TestLookupTimeouts(t *testing.T) {
	g := newLookupRig(t, Resolver{Servers: []string{"127.0.0.1:5353"}, Timeout: 2 * time.Second}, "", "")
	var got []time.Duration
	g.l.ask = func(c *dns.Client, name string, qtype uint16) dns.Result {
		got = append(got, c.Timeout)
		return dns.Result{Code: dns.TimedOut}
	}
	_, _, err := g.l.askDNS(g.l.res, "auth.example.com", time.Now().Add(time.Hour))
	var de *net.DNSError
	if len(got) != 2 || got[0] != 2*time.Second || got[1] != 2*time.Second || !asDNSError(err, &de) || !de.IsTimeout {
		t.Fatalf("timeouts %v, error %v", got, err)
	}
	got = nil
	_, _, err = g.l.askDNS(g.l.res, "auth.example.com", time.Now().Add(-time.Second))
	if len(got) != 0 || !asDNSError(err, &de) || !de.IsTimeout {
		t.Fatalf("past the deadline: asked with %v, error %v", got, err)
	}
}

func asDNSError(err error, de **net.DNSError) bool {
	e, ok := err.(*net.DNSError)
	*de = e
	return ok
}

// The Key tells apart every setting that changes a lookup.
func TestResolverKey(t *testing.T) {
	base := Resolver{Servers: []string{"127.0.0.1:53"}, Timeout: time.Second}
	seen := map[string]bool{Resolver{}.Key(): true}
	for _, r := range []Resolver{
		base,
		{Servers: []string{"127.0.0.1:53", "127.0.0.2:53"}, Timeout: time.Second},
		{Servers: []string{"127.0.0.1:53"}, Timeout: 2 * time.Second},
		{Servers: []string{"127.0.0.1:53"}, Timeout: time.Second, Valid: time.Minute},
		{Servers: []string{"127.0.0.1:53"}, Timeout: time.Second, NoIPv4: true},
		{Servers: []string{"127.0.0.1:53"}, Timeout: time.Second, NoIPv6: true},
	} {
		if seen[r.Key()] {
			t.Fatalf("key %q seen before", r.Key())
		}
		seen[r.Key()] = true
	}
}

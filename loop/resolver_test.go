package loop

import (
	"net/netip"
	"strings"
	"testing"

	"mailproxy/loop/dns"
)

func TestResolverValidName(t *testing.T) {
	f := func(name string, want bool) {
		t.Helper()
		if got := resolverValidName(name); got != want {
			t.Fatalf("%q: got %v, want %v", name, got, want)
		}
	}
	f("mail.example.com", true)
	f("MX-1.Example.COM", true)
	f("0.example", true)
	f("a", true)
	f("", false)
	f("bad_name.test", false)
	f("has space.test", false)
	f("inject\r\nAuth-Status: OK", false)
	f("a=b", false)
	f("a+b", false)
	f("[UNAVAILABLE]", false)
	f("ümlaut.test", false)
	f("a/b", false)
	f("a@b", false)
	f("a`b", false)
	f("a{b", false)
}

// resolverSpec turns a test spec into an answer: nx, servfail, refused,
// timeout, or a comma-separated list of names (PTR) or addresses (forward).
func resolverSpec(spec string) dns.Result {
	switch spec {
	case "nx":
		return dns.Result{Code: dns.NXDomain}
	case "servfail":
		return dns.Result{Code: dns.ServFail}
	case "refused":
		return dns.Result{Code: dns.Refused}
	case "timeout":
		return dns.Result{Code: dns.TimedOut}
	case "empty":
		return dns.Result{}
	}
	var r dns.Result
	for _, v := range strings.Split(spec, ",") {
		if a, err := netip.ParseAddr(v); err == nil {
			r.Addrs = append(r.Addrs, a)
		} else {
			r.Names = append(r.Names, v)
		}
	}
	return r
}

// TestResolverDecide is nginx's decision table (reference §3.3.4, checked
// with nginx 1.22.1 in e2e/resolver_test.go) for a client at 127.0.0.2.
// A forward spec "-" means the forward lookup must not happen.
func TestResolverDecide(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.2")
	f := func(ptr, fwd, wantHost, wantLog string) {
		t.Helper()
		host, msg := resolverDecide(ip, resolverSpec(ptr), func(name string) dns.Result {
			if fwd == "-" {
				t.Fatalf("%s: unexpected forward lookup of %q", ptr, name)
			}
			return resolverSpec(fwd)
		})
		if host != wantHost || msg != wantLog {
			t.Fatalf("%s / %s:\n got %q, %q\nwant %q, %q", ptr, fwd, host, msg, wantHost, wantLog)
		}
	}
	const addr, name = " while in resolving client address", " while in resolving client hostname"
	f("ok.test", "127.0.0.2", "ok.test", "")
	f("ok.test", "127.0.0.9,127.0.0.2", "ok.test", "")
	f("ok.test", "::ffff:127.0.0.2", "ok.test", "")
	f("first.test,second.test", "127.0.0.2", "first.test", "")
	f("ok.test", "127.0.0.9", "[UNAVAILABLE]", "")
	f("ok.test", "::1", "[UNAVAILABLE]", "")
	f("ok.test", "empty", "[UNAVAILABLE]", "")
	f("nx", "-", "[UNAVAILABLE]", "127.0.0.2 could not be resolved (3: Host not found)"+addr)
	f("empty", "-", "[UNAVAILABLE]", "127.0.0.2 could not be resolved (3: Host not found)"+addr)
	f("servfail", "-", "[TEMPUNAVAIL]", "127.0.0.2 could not be resolved (2: Server failure)"+addr)
	f("refused", "-", "[TEMPUNAVAIL]", "127.0.0.2 could not be resolved (5: Operation refused)"+addr)
	f("timeout", "-", "[TEMPUNAVAIL]", "127.0.0.2 could not be resolved (110: Operation timed out)"+addr)
	f("bad_name.test", "-", "[TEMPUNAVAIL]", `127.0.0.2 resolved to invalid host name "bad_name.test"`+addr)
	f("has space.test", "-", "[TEMPUNAVAIL]", `127.0.0.2 resolved to invalid host name "has space.test"`+addr)
	f("a\r\nb", "-", "[TEMPUNAVAIL]", `127.0.0.2 resolved to invalid host name "a__b"`+addr)
	f("ok.test", "nx", "[UNAVAILABLE]", `"ok.test" could not be resolved (3: Host not found)`+name)
	f("ok.test", "servfail", "[TEMPUNAVAIL]", `"ok.test" could not be resolved (2: Server failure)`+name)
	f("ok.test", "timeout", "[TEMPUNAVAIL]", `"ok.test" could not be resolved (110: Operation timed out)`+name)
}

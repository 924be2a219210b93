package loop

import (
	"log/slog"
	"testing"
	"time"

	"mailproxy/config"
	"mailproxy/loop/authhttp"
)

// A client for an auth_http host name is shared only by servers whose
// resolver directive is the same (it looks the name up with it); one for
// an IP address by every server with the URL.
func TestAuthGroupClientPerResolver(t *testing.T) {
	rt := &runtimeState{log: slog.Default(), numLoops: 1, auths: map[string]*authhttp.Client{}}
	server := func(url string, resolver ...string) *config.Server {
		return &config.Server{AuthHTTPServers: []config.AuthHTTPServer{{URL: url, Addr: url, Host: url, URI: "/"}},
			Resolver: resolver, ResolverTimeout: time.Second, ResolverIPv4: true, ResolverIPv6: true}
	}
	client := func(sc *config.Server) *authhttp.Client {
		t.Helper()
		g, _, err := rt.authGroup(sc)
		if err != nil {
			t.Fatal(err)
		}
		return g.Clients()[0]
	}
	f := func(a, b *config.Server, same bool) {
		t.Helper()
		if got := client(a) == client(b); got != same {
			t.Fatalf("%v and %v: same client %v, want %v", a.Resolver, b.Resolver, got, same)
		}
	}
	f(server("auth.test:80"), server("auth.test:80"), true)
	f(server("auth.test:80", "127.0.0.1:53"), server("auth.test:80", "127.0.0.1:53"), true)
	f(server("auth.test:80"), server("auth.test:80", "127.0.0.1:53"), false)
	f(server("auth.test:80", "127.0.0.1:53"), server("auth.test:80", "127.0.0.2:53"), false)
	v := server("auth.test:80", "127.0.0.1:53")
	v.ResolverValid = time.Minute
	f(server("auth.test:80", "127.0.0.1:53"), v, false)
	v6 := server("auth.test:80", "127.0.0.1:53")
	v6.ResolverIPv6 = false
	f(server("auth.test:80", "127.0.0.1:53"), v6, false)
	f(server("127.0.0.1:80"), server("127.0.0.1:80", "127.0.0.1:53"), true)
	f(server("[::1]:80"), server("[::1]:80", "127.0.0.1:53"), true)
}

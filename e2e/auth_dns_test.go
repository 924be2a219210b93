package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"
)

// auth_http host names looked up again as their DNS TTL says (issue 15,
// deliverable 2), through the name servers of the resolver directive: a
// hand-built DNS server on loopback answers the auth_http name, two auth
// servers listen on two loopback addresses with the same port.

// startAuthPair starts two auth servers answering with h, on 127.0.0.2
// and 127.0.0.3 with the same port.
func startAuthPair(t *testing.T, h func(*authReq) string) (a2, a3 *authServer, port int) {
	t.Helper()
	for range 20 {
		l2, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		port = l2.Addr().(*net.TCPAddr).Port
		l3, err := net.Listen("tcp", "127.0.0.3:"+strconv.Itoa(port))
		if err != nil {
			l2.Close() // the port is taken on 127.0.0.3: another pair
			continue
		}
		return startAuthOn(t, l2, h), startAuthOn(t, l3, h), port
	}
	t.Fatal("no port free on both 127.0.0.2 and 127.0.0.3 in 20 tries")
	return nil, nil, 0
}

// authDNSRig is mailproxy with one IMAP listener whose auth_http URL names
// auth.ttl.test, answered by d with the TTL of each test.
func authDNSRig(t *testing.T, ttl uint32) (d *dnsServer, a2, a3 *authServer, port int) {
	t.Helper()
	be := startBackend(t, backendOpts{})
	a2, a3, authPort := startAuthPair(t, userAuth(be.Port))
	d = startDNS(t)
	d.fwd("auth.ttl.test", dnsAnswer{addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}, ttl: ttl})
	dir := t.TempDir()
	port, admin := freePort(t), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProxy(t, authScaleConf(t, dir, fmt.Sprintf("http://auth.ttl.test:%d/auth", authPort), port, admin,
		"resolver "+d.Addr+";\nresolver_timeout 5s;\nauth_http_timeout 10s;"))
	return d, a2, a3, port
}

// With a TTL of 1 s, the name moved from 127.0.0.2 to 127.0.0.3 while
// logins go on: none fails, the auth requests reach 127.0.0.3 once the
// TTL is over, and from then on 127.0.0.2 gets none, the connections kept
// alive to it included.
func TestAuthHTTPNameFollowsDNSTTL(t *testing.T) {
	t.Parallel()
	d, a2, a3, port := authDNSRig(t, 1)
	login := func() {
		t.Helper()
		if err := authScaleLogin(port, "user", "pass"); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		login()
	}
	if n2, n3 := len(a2.requests()), len(a3.requests()); n2 != 5 || n3 != 0 {
		t.Fatalf("before the move: %d requests on 127.0.0.2, %d on 127.0.0.3; want 5, 0", n2, n3)
	}
	asked := d.count("A auth.ttl.test")
	d.fwd("auth.ttl.test", dnsAnswer{addrs: []netip.Addr{netip.MustParseAddr("127.0.0.3")}, ttl: 1})
	logins := 0
	waitFor(t, 30*time.Second, func() bool {
		login()
		logins++
		return len(a3.requests()) > 0
	}, func() string {
		return fmt.Sprintf("%d logins after the move, none reached 127.0.0.3 (%d A queries since)", logins, d.count("A auth.ttl.test")-asked)
	})
	if d.count("A auth.ttl.test") <= asked {
		t.Fatal("the name was not asked again")
	}
	before := len(a2.requests())
	for range 10 {
		login()
	}
	if n := len(a2.requests()) - before; n != 0 {
		t.Fatalf("127.0.0.2 got %d of the 10 logins after the first one reached 127.0.0.3", n)
	}
}

// With a TTL of an hour, logins from several clients at once ask nothing
// more of the DNS server after the first lookup.
func TestAuthHTTPNameLongTTLNoRequery(t *testing.T) {
	t.Parallel()
	d, a2, a3, port := authDNSRig(t, 3600)
	if err := authScaleLogin(port, "user", "pass"); err != nil {
		t.Fatal(err)
	}
	a, aaaa := d.count("A auth.ttl.test"), d.count("AAAA auth.ttl.test")
	if aaaa != 1 {
		t.Fatalf("%d AAAA queries after the first login, want 1", aaaa)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*15)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 15 {
				if err := authScaleLogin(port, "user", "pass"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(a2.requests()); n != 61 || len(a3.requests()) != 0 {
		t.Fatalf("%d requests on 127.0.0.2, %d on 127.0.0.3; want 61, 0", n, len(a3.requests()))
	}
	if a2, aaaa2 := d.count("A auth.ttl.test"), d.count("AAAA auth.ttl.test"); a2 != a || aaaa2 != aaaa {
		t.Fatalf("DNS asked again during the logins: A %d → %d, AAAA %d → %d", a, a2, aaaa, aaaa2)
	}
}

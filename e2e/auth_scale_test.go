package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Auth at scale (issue 15): several auth_http servers with failover,
// auth_http over https, and the auth cache, on the built binary.

// authScaleConf is one IMAP server with auth_http URLs (several allowed),
// extra directives in mail{}, and an admin listener for the metrics.
func authScaleConf(t testing.TB, dir, urls string, port int, admin, extra string) string {
	t.Helper()
	return fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
pid %s/mailproxy.pid;
events {}
admin {
    listen %s;
}
mail {
    auth_http %s;
%s
    server {
        listen 127.0.0.1:%d;
        protocol imap;
    }
}
`, dir, dir, admin, urls, indent(extra, "    "), port)
}

// kill stops the auth server as a crash would: its kept-alive connections
// are reset and new ones refused.
func (a *authServer) kill() {
	a.mu.Lock()
	a.closed = true
	for c := range a.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	a.mu.Unlock()
	a.ln.Close()
}

// drained reports whether none of a's connections is being served any
// more (each serve goroutine records its requests before it returns).
func (a *authServer) drained() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.conns) == 0
}

// authScaleLogin logs in once as user/pass and logs out; it returns the
// first reply line to the LOGIN when it is not the backend's OK.
func authScaleLogin(port int, user, pass string) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), ioWait)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	read := func() (string, error) {
		var got []byte
		for !strings.Contains(string(got), "\r\n") {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				return string(got), err
			}
		}
		return string(got), nil
	}
	if _, err := read(); err != nil { // greeting
		return err
	}
	if _, err := io.WriteString(c, "a1 LOGIN "+user+" "+pass+"\r\n"); err != nil {
		return err
	}
	line, err := read()
	if !strings.HasPrefix(line, "a1 OK ") {
		return fmt.Errorf("LOGIN %s: %q (%v)", user, line, err)
	}
	_, _ = io.WriteString(c, "a2 LOGOUT\r\n")
	return nil
}

// Two auth servers; one is killed while logins go on: none fails, the
// other takes every login after, the dead one is marked down in the log
// and in the metrics.
func TestAuthFailoverServerKilledMidRun(t *testing.T) {
	t.Parallel()
	be := startBackend(t, backendOpts{})
	a := startAuth(t, userAuth(be.Port))
	b := startAuth(t, userAuth(be.Port))
	dir := t.TempDir()
	port, admin := freePort(t), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProxy(t, authScaleConf(t, dir, "http://"+a.Addr+"/auth "+b.Addr+"/auth", port, admin, "auth_http_timeout 10s;"))

	var done, failed atomic.Int32
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := authScaleLogin(port, "user", "pass"); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				done.Add(1)
			}
		}()
	}
	waitFor(t, 30*time.Second, func() bool { return done.Load() >= 30 }, func() string { return fmt.Sprintf("%d logins before the kill", done.Load()) })
	if len(a.requests()) == 0 || len(b.requests()) == 0 {
		t.Errorf("before the kill: %d and %d requests, want both servers used", len(a.requests()), len(b.requests()))
	}
	a.kill()
	// Counted once the server is dead, that is once every connection
	// goroutine it had has ended: a request it was reading as it died is
	// recorded after the kill began (in its bufio.Reader already, parsed
	// after the close), and it came before the death.
	waitFor(t, 10*time.Second, a.drained, func() string { return "the killed server's connections to end" })
	before := len(a.requests())
	killedAt := done.Load()
	waitFor(t, 60*time.Second, func() bool { return done.Load() >= killedAt+60 }, func() string { return fmt.Sprintf("%d logins after the kill", done.Load()-killedAt) })
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d logins failed, first: %v", n, done.Load(), firstErr.Load())
	}
	if n := len(a.requests()); n != before {
		t.Errorf("the killed server saw %d requests after its death", n-before)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	if !strings.Contains(string(log), "auth http server "+a.Addr) || !strings.Contains(string(log), "marked down for 10s") {
		t.Errorf("no line about the dead server in the log:\n%s", tail(string(log), 20))
	}
	m := authScaleScrape(t, admin)
	if v := m.val(t, "mailproxy_auth_http_endpoint_up", "endpoint", a.Addr); v != 0 {
		t.Errorf("dead server up = %v", v)
	}
	if v := m.val(t, "mailproxy_auth_http_endpoint_up", "endpoint", b.Addr); v != 1 {
		t.Errorf("live server up = %v", v)
	}
	if v := m.val(t, "mailproxy_auth_http_endpoint_requests_total", "endpoint", b.Addr); int(v) != len(b.requests()) {
		t.Errorf("live server: %v requests counted, it saw %d", v, len(b.requests()))
	}
}

func authScaleScrape(t testing.TB, admin string) opsMetrics {
	t.Helper()
	resp, err := opsHTTP.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return opsParse(t, string(body))
}

// startAuthTLS is startAuth behind TLS with the certificate pair.
func startAuthTLS(t testing.TB, certPath, keyPath string, h func(*authReq) string) *authServer {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{pair}})
	a := &authServer{Addr: raw.Addr().String(), ln: ln, handler: h,
		conns: map[net.Conn]bool{}, release: make(chan struct{})}
	a.wg.Add(1)
	go a.accept()
	t.Cleanup(a.close)
	return a
}

// auth_http https:// with the test CA as auth_http_ssl_trusted_certificate:
// logins work; a proxy that trusts another CA refuses the server, the
// client gets the internal error, and the log says why.
func TestAuthHTTPSWithTestCA(t *testing.T) {
	t.Parallel()
	ca := newTLSCA(t, "auth test CA")
	cert, key, _ := ca.issue(t, tlsLeafOpts{cn: "127.0.0.1"})
	be := startBackend(t, backendOpts{})
	a := startAuthTLS(t, cert, key, userAuth(be.Port))

	dir := t.TempDir()
	port, admin := freePort(t), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProxy(t, authScaleConf(t, dir, "https://"+a.Addr+"/auth", port, admin, "auth_http_ssl_trusted_certificate "+ca.Path+";"))
	for range 3 {
		if err := authScaleLogin(port, "user", "pass"); err != nil {
			t.Fatal(err)
		}
	}
	reqs := a.requests()
	if len(reqs) != 3 || reqs[0].Line != "GET /auth HTTP/1.1" || reqs[0].get("Auth-User") != "user" {
		t.Fatalf("auth server saw %d requests, first %+v", len(reqs), reqs[0])
	}

	other := newTLSCA(t, "other CA")
	dir2 := t.TempDir()
	port2, admin2 := freePort(t), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startProxy(t, authScaleConf(t, dir2, "https://"+a.Addr+"/auth", port2, admin2, "auth_http_ssl_trusted_certificate "+other.Path+";"))
	c := dialIMAP(t, port2)
	c.send("a1 LOGIN user pass\r\n")
	c.expect("* BAD internal server error")
	c.expectEOF()
	if len(a.requests()) != 3 {
		t.Fatal("the request went out to an unverified server")
	}
	waitFor(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir2, "error.log"))
		return strings.Contains(string(b), "auth http server "+a.Addr+" SSL handshake failed") &&
			strings.Contains(string(b), "certificate signed by unknown authority")
	}, func() string {
		b, _ := os.ReadFile(filepath.Join(dir2, "error.log"))
		return "no handshake failure in the log:\n" + tail(string(b), 10)
	})
}

// The auth cache: repeated logins are answered without the auth server
// (its request count says so), failures too; an answer with
// Auth-Cache-Valid: 0 is asked each time; another password is another
// entry; SIGHUP flushes the cache.
func TestAuthCacheHitsNoCacheAndReload(t *testing.T) {
	t.Parallel()
	be := startBackend(t, backendOpts{})
	inner := userAuth(be.Port)
	a := startAuth(t, func(r *authReq) string {
		if r.get("Auth-User") == "nocache" {
			return authOK(be.Port) + "Auth-Cache-Valid: 0\r\n"
		}
		return inner(r)
	})
	dir := t.TempDir()
	port, admin := freePort(t), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := authScaleConf(t, dir, a.Addr+"/auth", port, admin, "auth_http_cache 1000 valid=1h invalid=1h;")
	p := startProxy(t, conf)
	count := func(user string) int {
		n := 0
		for _, r := range a.requests() {
			if r.get("Auth-User") == user {
				n++
			}
		}
		return n
	}
	for range 5 {
		if err := authScaleLogin(port, "user", "pass"); err != nil {
			t.Fatal(err)
		}
	}
	if n := count("user"); n != 1 {
		t.Fatalf("5 logins, %d auth requests; want 1 (cache)", n)
	}
	for range 3 {
		if err := authScaleLogin(port, "nocache", "pass"); err != nil {
			t.Fatal(err)
		}
	}
	if n := count("nocache"); n != 3 {
		t.Fatalf("Auth-Cache-Valid: 0: %d requests for 3 logins", n)
	}
	for range 3 {
		err := authScaleLogin(port, "bad", "pass")
		if err == nil || !strings.Contains(err.Error(), "a1 NO Invalid login or password") {
			t.Fatalf("bad login: %v", err)
		}
	}
	if n := count("bad"); n != 1 {
		t.Fatalf("3 failed logins, %d auth requests; want 1 (negative cache)", n)
	}
	if err := authScaleLogin(port, "user", "other"); err != nil {
		t.Fatal(err)
	}
	if n := count("user"); n != 2 {
		t.Fatalf("another password: %d requests in all, want 2", n)
	}
	m := authScaleScrape(t, admin)
	if hits := m.val(t, "mailproxy_auth_http_cache_total", "result", "hit"); hits != 6 {
		t.Errorf("%v cache hits counted, want 6", hits)
	}

	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return strings.Contains(string(b), "configuration reloaded")
	}, func() string { return "no reload in the log" })
	if err := authScaleLogin(port, "user", "pass"); err != nil {
		t.Fatal(err)
	}
	if n := count("user"); n != 3 {
		t.Fatalf("after the reload: %d requests in all, want 3 (cache flushed)", n)
	}
}

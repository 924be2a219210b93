package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Edge defence (issue 14): access lists, per-address caps and rates,
// failure budgets with bans and the tarpit, exemptions, reload, and the
// fail2ban filter, on the built binary. Clients connect from several
// 127.0.0.x source addresses; the auth server says OK to the password
// "right" only.

type edgeRig struct {
	dir  string
	path string // the config file, rewritten by reload
	auth *authServer
	be   *fakeBackend
	p    *proc
	port int
}

// edgeAuth: OK for the password "right", a failure otherwise.
func edgeAuth(bePort int) func(*authReq) string {
	return func(r *authReq) string {
		if r.get("Auth-Pass") == "right" {
			return authOK(bePort)
		}
		return authFail("Invalid login or password", 0)
	}
}

// edgeConf is one IMAP server on r.port; mailExtra goes in mail{},
// srvExtra in the server.
func (r *edgeRig) conf(mailExtra, srvExtra string) string {
	return fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
pid %s/mailproxy.pid;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
%s
    server {
        listen 127.0.0.1:%d;
        protocol imap;
%s
    }
}
`, r.dir, r.dir, r.auth.Addr, indent(mailExtra, "    "), r.port, indent(srvExtra, "        "))
}

func newEdgeRig(t *testing.T, mailExtra, srvExtra string) *edgeRig {
	t.Helper()
	be := startBackend(t, backendOpts{})
	return newEdgeRigWith(t, startAuth(t, edgeAuth(be.Port)), be, mailExtra, srvExtra)
}

// newEdgeRigWith starts one more mailproxy on the given auth server and
// backend (a second instance of a fleet).
func newEdgeRigWith(t *testing.T, auth *authServer, be *fakeBackend, mailExtra, srvExtra string) *edgeRig {
	t.Helper()
	r := &edgeRig{dir: t.TempDir(), auth: auth, be: be}
	r.port = freePort(t)
	conf := r.conf(mailExtra, srvExtra)
	r.path = filepath.Join(r.dir, "mail.conf")
	if err := os.WriteFile(r.path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r.p = startProc(t, "mailproxy", conf, mailproxyBin, "-c", r.path)
	return r
}

// errorLog is what mailproxy wrote to its error_log so far.
func (r *edgeRig) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "error.log"))
	return string(b)
}

// reload rewrites the config and waits until mailproxy says it reloaded.
func (r *edgeRig) reload(t *testing.T, mailExtra, srvExtra string) {
	t.Helper()
	before := strings.Count(r.errorLog(), "configuration reloaded")
	if err := os.WriteFile(r.path, []byte(r.conf(mailExtra, srvExtra)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(r.p.PID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Count(r.errorLog(), "configuration reloaded") > before },
		func() string { return "no reload line:\n" + r.p.logs() })
}

// authFrom counts the auth_http requests made for client address ip.
func (r *edgeRig) authFrom(ip string) int {
	n := 0
	for _, q := range r.auth.requests() {
		if q.get("Client-IP") == ip {
			n++
		}
	}
	return n
}

// greeted connects from ip and expects the greeting.
func (r *edgeRig) greeted(t *testing.T, ip string) *client {
	t.Helper()
	c := dialFrom(t, ip, r.port)
	c.expect("* OK IMAP4 ready")
	return c
}

// refused connects from ip and expects the refusal line, then the close.
func (r *edgeRig) refused(t *testing.T, ip, why string) {
	t.Helper()
	c := dialFrom(t, ip, r.port)
	c.expect("* BYE " + why)
	c.expectEOF()
}

// fail makes one failed login from ip as user and expects the failure.
func (r *edgeRig) fail(t *testing.T, ip, user string) {
	t.Helper()
	c := r.greeted(t, ip)
	c.send("a1 LOGIN " + user + " wrong\r\n")
	c.expect("a1 NO Invalid login or password")
	c.expectEOF()
}

// tarpitted checks that a login from ip is refused without auth_http.
func (r *edgeRig) tarpitted(t *testing.T, ip, user string) {
	t.Helper()
	before := r.authFrom(ip)
	c := r.greeted(t, ip)
	c.send("a1 LOGIN " + user + " right\r\n")
	c.expect("a1 NO authentication failed")
	if n := r.authFrom(ip) - before; n != 0 {
		t.Fatalf("%d auth_http requests for banned %s", n, ip)
	}
}

func TestLimitsAllowDenyOrder(t *testing.T) {
	r := newEdgeRig(t, "deny 127.0.0.3; allow 127.0.0.0/24; deny all;", "")
	r.greeted(t, "127.0.0.2").login("a1", "user", "right")
	r.refused(t, "127.0.0.3", "access denied")
	r.greeted(t, "127.0.0.4")
	r.refused(t, "127.0.1.5", "access denied")
	if n := r.authFrom("127.0.0.3") + r.authFrom("127.0.1.5"); n != 0 {
		t.Fatalf("%d auth_http requests from denied clients", n)
	}
	// A server's own list replaces mail's.
	r.reload(t, "deny 127.0.0.3; allow 127.0.0.0/24; deny all;", "allow 127.0.1.5; deny all;")
	r.greeted(t, "127.0.1.5")
	r.refused(t, "127.0.0.2", "access denied")
}

// TestLimitsDenyAfterProxyHeader: behind a trusted front proxy the list
// applies to the address in the PROXY header, not to the front's.
func TestLimitsDenyAfterProxyHeader(t *testing.T) {
	r := &edgeRig{dir: t.TempDir()}
	r.be = startBackend(t, backendOpts{})
	r.auth = startAuth(t, edgeAuth(r.be.Port))
	r.port = freePort(t)
	conf := strings.Replace(r.conf("set_real_ip_from 127.0.0.1; deny 192.0.2.7;", ""),
		fmt.Sprintf("listen 127.0.0.1:%d;", r.port), fmt.Sprintf("listen 127.0.0.1:%d proxy_protocol;", r.port), 1)
	r.path = writeConf(t, conf)
	r.p = startProc(t, "mailproxy", conf, mailproxyBin, "-c", r.path)
	c := dialFrom(t, "127.0.0.1", r.port)
	c.send("PROXY TCP4 192.0.2.7 127.0.0.1 40000 143\r\n")
	c.expect("* BYE access denied")
	c.expectEOF()
	c = dialFrom(t, "127.0.0.1", r.port)
	c.send("PROXY TCP4 192.0.2.8 127.0.0.1 40000 143\r\n")
	c.expect("* OK IMAP4 ready")
}

func TestLimitsConnCapPerAddress(t *testing.T) {
	r := newEdgeRig(t, "limit_conn_per_ip 2;", "")
	a := r.greeted(t, "127.0.0.2")
	r.greeted(t, "127.0.0.2")
	r.refused(t, "127.0.0.2", "too many connections from your address")
	r.greeted(t, "127.0.0.3")
	// A session that ends gives its slot back.
	a.send("a1 LOGOUT\r\n")
	a.expect("* BYE", "a1 OK completed")
	a.expectEOF()
	var last string
	waitFor(t, 10*time.Second, func() bool {
		c := dialFrom(t, "127.0.0.2", r.port)
		last = c.line()
		c.c.Close()
		return last == "* OK IMAP4 ready"
	}, func() string { return "slot not given back: " + last })
}

func TestLimitsRatePerAddress(t *testing.T) {
	r := newEdgeRig(t, "limit_rate_per_ip 3r/m;", "")
	for range 3 {
		r.greeted(t, "127.0.0.2").c.Close()
	}
	r.refused(t, "127.0.0.2", "too many new connections from your address, try again later")
	r.greeted(t, "127.0.0.3")
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(r.errorLog(), "limits: connection refused, client: 127.0.0.2")
	}, func() string { return "no refusal line:\n" + r.errorLog() })
}

// TestLimitsBudgetSparesTheRealUser: an attacker uses up an address's
// budget and then the login's from several addresses; the address is
// tarpitted without auth_http calls, the login is refused from new
// addresses, and the real user still logs in from the address they used
// before. Then the ban expires.
func TestLimitsBudgetSparesTheRealUser(t *testing.T) {
	r := newEdgeRig(t, "limit_auth_fail ip=3/1m login=5/1m ban=2s tarpit=200ms;", "")
	r.greeted(t, "127.0.0.9").login("a1", "alice", "right") // alice's own address
	for range 3 {
		r.fail(t, "127.0.0.2", "alice")
	}
	r.tarpitted(t, "127.0.0.2", "bob")
	if n := r.authFrom("127.0.0.2"); n != 3 {
		t.Fatalf("auth_http requests from the attacker: %d, want 3", n)
	}
	r.fail(t, "127.0.0.3", "alice")
	r.fail(t, "127.0.0.4", "alice") // the login's 5th failure: banned for new addresses
	r.tarpitted(t, "127.0.0.7", "ALICE")
	r.greeted(t, "127.0.0.9").login("a1", "alice", "right")
	r.greeted(t, "127.0.0.7").login("a1", "carol", "right")
	// The ban passes (2 s): the attacker's address may try again.
	waitFor(t, 15*time.Second, func() bool {
		c := r.greeted(t, "127.0.0.2")
		c.send("a1 LOGIN dave right\r\n")
		l := c.line()
		c.c.Close()
		return strings.HasPrefix(l, "a1 OK")
	}, func() string { return "the ban did not expire" })
	log := r.errorLog()
	for _, want := range []string{"limits: address banned, client: 127.0.0.2", "limits: login banned, client: 127.0.0.4", "limits: login refused, client: 127.0.0.2"} {
		if !strings.Contains(log, want) {
			t.Errorf("error_log lacks %q", want)
		}
	}
	if strings.Contains(log, "wrong") || strings.Contains(log, "right") {
		t.Errorf("a password reached the log:\n%s", log)
	}
}

func TestLimitsExempt(t *testing.T) {
	r := newEdgeRig(t, "limit_conn_per_ip 1; limit_exempt 127.0.0.8 127.0.0.16/30; limit_auth_fail ip=1/1m ban=1h tarpit=0;", "")
	for range 3 {
		r.greeted(t, "127.0.0.8")
		r.greeted(t, "127.0.0.17")
	}
	r.greeted(t, "127.0.0.2")
	r.refused(t, "127.0.0.2", "too many connections from your address")
	r.fail(t, "127.0.0.8", "x")
	r.greeted(t, "127.0.0.8").login("a1", "user", "right")
}

func TestLimitsReloadKeepsBans(t *testing.T) {
	r := newEdgeRig(t, "limit_auth_fail ip=2/1m ban=1h tarpit=100ms;", "")
	r.fail(t, "127.0.0.2", "u1")
	r.fail(t, "127.0.0.2", "u2")
	r.tarpitted(t, "127.0.0.2", "u3")
	r.reload(t, "limit_auth_fail ip=2/1m ban=1h tarpit=100ms; limit_conn_per_ip 1;", "")
	r.tarpitted(t, "127.0.0.2", "u3")
	// The new limit applies.
	r.greeted(t, "127.0.0.3")
	r.refused(t, "127.0.0.3", "too many connections from your address")
}

// TestLimitsFail2banFilter runs fail2ban-regex with scripts/fail2ban's
// filter over the ban lines this mailproxy wrote.
func TestLimitsFail2banFilter(t *testing.T) {
	needTool(t, "fail2ban-regex")
	r := newEdgeRig(t, "limit_auth_fail ip=2/1m ban=1h tarpit=0;", "")
	r.fail(t, "127.0.0.2", "u")
	r.fail(t, "127.0.0.2", "u")
	r.fail(t, "127.0.0.5", "v")
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(r.errorLog(), "limits: address banned") },
		func() string { return "no ban line:\n" + r.errorLog() })
	filter, err := filepath.Abs("../scripts/fail2ban/filter.d/mailproxy.conf")
	if err != nil {
		t.Fatal(err)
	}
	out := runTool(t, "fail2ban-regex", "--print-all-matched", filepath.Join(r.dir, "error.log"), filter)
	matched, _, _ := strings.Cut(out, "Missed line(s)")
	_, matched, _ = strings.Cut(matched, "Matched line(s):")
	if !strings.Contains(out, "1 matched") || !strings.Contains(matched, "address banned, client: 127.0.0.2,") || strings.Contains(matched, "127.0.0.5") {
		t.Fatalf("fail2ban-regex:\n%s\nlog:\n%s", out, r.errorLog())
	}
}

// startRedis runs a private redis-server on a loopback port, without
// persistence, and returns it and its address.
func startRedis(t *testing.T) (*proc, string) {
	t.Helper()
	needTool(t, "redis-server")
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := startProc(t, "redis", "", "redis-server", "--bind", "127.0.0.1", "--port", fmt.Sprint(port),
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	p.waitPort(t, addr)
	return p, addr
}

// waitLog waits for a line in r's error_log.
func (r *edgeRig) waitLog(t *testing.T, want string) {
	t.Helper()
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(r.errorLog(), want) },
		func() string { return "error_log lacks " + want + ":\n" + r.errorLog() })
}

// TestLimitsSharedRedis: two instances share one Redis. Failures on one
// ban the address on the other; failures spread over both use one budget.
// Then Redis is killed: logins go on, failures are counted locally.
func TestLimitsSharedRedis(t *testing.T) {
	rp, raddr := startRedis(t)
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, edgeAuth(be.Port))
	conf := "limit_store redis://" + raddr + "/1; limit_auth_fail ip=3/1m ban=1h tarpit=100ms;"
	a := newEdgeRigWith(t, auth, be, conf, "")
	b := newEdgeRigWith(t, auth, be, conf, "")

	for range 3 {
		a.fail(t, "127.0.0.2", "u")
	}
	b.waitLog(t, "limits: address banned, client: 127.0.0.2, for: ")
	b.tarpitted(t, "127.0.0.2", "u")

	// One budget for the fleet: 2 failures on a, 1 on b.
	a.fail(t, "127.0.0.3", "u")
	a.fail(t, "127.0.0.3", "u")
	b.fail(t, "127.0.0.3", "u")
	a.waitLog(t, "limits: address banned, client: 127.0.0.3, for: ")
	a.tarpitted(t, "127.0.0.3", "u")

	// Redis goes away mid-test: logins go on (each bounded by the
	// client's read deadline), and failures still count locally.
	_ = syscall.Kill(rp.PID, syscall.SIGKILL)
	for range 3 {
		a.greeted(t, "127.0.0.4").login("a1", "user", "right")
	}
	for range 3 {
		a.fail(t, "127.0.0.5", "u")
	}
	a.tarpitted(t, "127.0.0.5", "u")
	a.greeted(t, "127.0.0.4").login("a1", "user", "right")
	a.waitLog(t, "limit_store redis://"+raddr+"/1 failed, counting locally until it answers")
	a.p.mustBeAlive(t)
}

// TestLimitsPreauthCap: idle connections cannot take every pre-auth
// slot from users who log in: a session that logs in leaves the count.
func TestLimitsPreauthCap(t *testing.T) {
	r := newEdgeRig(t, "", "limit_preauth 2;")
	// startProc's port probe was a pre-auth session too: wait until it
	// is over, or it may still hold a slot (it did in a loaded full run).
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(r.errorLog(), "session done") },
		func() string { return "the port probe's session line:\n" + r.errorLog() })
	idle := r.greeted(t, "127.0.0.2")
	user := r.greeted(t, "127.0.0.3")
	r.refused(t, "127.0.0.4", "too many connections waiting to log in, try again later")
	user.login("a1", "user", "right") // in relay now: no longer pre-auth
	r.greeted(t, "127.0.0.4")
	r.refused(t, "127.0.0.5", "too many connections waiting to log in, try again later")
	idle.c.Close()
	var last string
	waitFor(t, 10*time.Second, func() bool {
		c := dialFrom(t, "127.0.0.5", r.port)
		last = c.line()
		c.c.Close()
		return last == "* OK IMAP4 ready"
	}, func() string { return "slot not given back: " + last })
}

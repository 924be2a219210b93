package e2e

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOpsReloadUnderLoad(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{})
	port2 := fmt.Sprintf("127.0.0.1:%d", r.port2)
	held := relayedSession(t, r.port) // opened before any reload
	var held2 *client                 // opened on the second listener while it exists

	load := opsStartLoad(r.port, 4, 2000, 20*time.Second)
	steps := []struct {
		second bool   // the second listener is configured
		more   string // extra mail{} directives
		broken bool   // write a config that does not parse
	}{
		{second: true},
		{more: "timeout 30s;"},
		{second: true, more: "max_errors 4;"},
		{broken: true},
		{more: "proxy_timeout 5m;"},
		{second: true},
	}
	var wantOK, wantFail float64
	for i, s := range steps {
		load.waitMore(t, 60)
		if s.broken {
			r.rewrite(t, "mail {\n    server {\n        listen 127.0.0.1:1;\n")
			wantFail++
		} else {
			r.rewrite(t, r.conf(s.second, s.more))
			wantOK++
		}
		r.signal(t, syscall.SIGHUP)
		r.waitMetrics(t, fmt.Sprintf("reload %d counted", i+1), func(m opsMetrics) bool {
			ok, _ := m.sum("mailproxy_config_reloads_total", "result", "ok")
			fail, _ := m.sum("mailproxy_config_reloads_total", "result", "fail")
			return ok == wantOK && fail == wantFail
		})
		// A scrape is not a snapshot: the one that saw the count may have
		// listed the series before the reload changed them. One started
		// after it has seen the count sees the whole reload.
		m := r.scrape(t)
		last := m.val(t, "mailproxy_config_last_reload_successful")
		if s.broken {
			if last != 0 {
				t.Fatalf("after a refused reload mailproxy_config_last_reload_successful = %v, want 0", last)
			}
			r.waitLog(t, "reload failed", 1)
			r.p.mustBeAlive(t)
			continue
		}
		if last != 1 {
			t.Fatalf("after reload %d mailproxy_config_last_reload_successful = %v, want 1", i+1, last)
		}
		_, exposed := m.sum("mailproxy_connections_accepted_total", "listener", port2)
		if s.second {
			if err := opsLogin(r.port2, "second", "pass"); err != nil {
				t.Fatalf("reload %d added %s, but a login there fails: %v", i+1, port2, err)
			}
			if !exposed {
				t.Errorf("reload %d added %s, but it has no metrics", i+1, port2)
			}
			if held2 == nil {
				held2 = relayedSession(t, r.port2)
			}
			continue
		}
		if c, err := net.DialTimeout("tcp", port2, ioWait); err == nil {
			c.Close()
			t.Fatalf("reload %d removed %s, but it still accepts", i+1, port2)
		}
		if exposed {
			t.Errorf("reload %d removed %s, but its metrics remain:\n%s", i+1, port2, m.grep(port2))
		}
		// The removed listener's relayed session goes on.
		echoWorks(held2, fmt.Sprintf("s%d", i), "listener-removed")
	}
	load.waitMore(t, 60)
	load.end(t)
	echoWorks(held, "r2", "after-reloads")
	echoWorks(held2, "s9", "after-reloads")
	r.waitLog(t, "configuration reloaded", int(wantOK))
	r.p.mustBeAlive(t)
}

func TestOpsSignalFlag(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{shutdown: "30s"})
	data, err := os.ReadFile(r.pidFile())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != strconv.Itoa(r.p.PID) {
		t.Fatalf("pid file holds %q, want %d", got, r.p.PID)
	}
	f := func(sig string) {
		t.Helper()
		if out, code := opsRun(t, "-s", sig, "-c", r.confPath); code != 0 || out != "" {
			t.Fatalf("mailproxy -s %s: exit %d, output %q; want 0 and nothing", sig, code, out)
		}
	}

	// -s reload: the new listener appears.
	r.rewrite(t, r.conf(true, ""))
	f("reload")
	r.waitMetrics(t, "reload counted", func(m opsMetrics) bool {
		v, _ := m.sum("mailproxy_config_reloads_total", "result", "ok")
		return v == 1
	})
	if err := opsLogin(r.port2, "user", "pass"); err != nil {
		t.Fatalf("login on the listener added by -s reload: %v", err)
	}

	// -s reopen
	f("reopen")
	r.waitLog(t, "logs reopened", 1)

	// -s quit drains: the relayed session finishes, then exit 0 and the
	// pid file is gone.
	c := relayedSession(t, r.port)
	f("quit")
	r.waitMetrics(t, "not ready", func(opsMetrics) bool {
		code, _ := r.get(t, "/readyz")
		return code == 503
	})
	echoWorks(c, "r2", "quitting")
	c.send("r3 LOGOUT\r\n")
	c.expect("* BYE fake backend logging out", "r3 OK LOGOUT completed")
	c.expectEOF()
	if code := r.waitExit(t); code != 0 {
		t.Fatalf("exit code %d after -s quit, want 0", code)
	}
	if _, err := os.Stat(r.pidFile()); !os.IsNotExist(err) {
		t.Fatalf("pid file after exit: %v, want it removed", err)
	}
	// With the process gone, -s fails the way nginx's does.
	if out, code := opsRun(t, "-s", "reload", "-c", r.confPath); code != 1 || !strings.Contains(out, "[error]") {
		t.Fatalf("mailproxy -s reload without a process: exit %d, output %q; want 1 and an [error] line", code, out)
	}
}

// A reload that points auth_http elsewhere: new logins ask the new server.
func TestOpsReloadAuthHTTP(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{})
	old := r.auth
	if err := opsLogin(r.port, "user", "pass"); err != nil {
		t.Fatal(err)
	}
	r.auth = startAuth(t, userAuth(r.be.Port))
	r.rewrite(t, r.conf(false, ""))
	r.signal(t, syscall.SIGHUP)
	r.waitMetrics(t, "reload counted", func(m opsMetrics) bool {
		v, _ := m.sum("mailproxy_config_reloads_total", "result", "ok")
		return v == 1
	})
	if err := opsLogin(r.port, "user", "pass"); err != nil {
		t.Fatal(err)
	}
	if n, m := len(old.requests()), len(r.auth.requests()); n != 1 || m != 1 {
		t.Fatalf("auth requests: old server %d, new server %d; want 1 and 1", n, m)
	}
	m := r.scrape(t)
	if _, ok := m.sum("mailproxy_auth_http_connections_opened_total", "endpoint", r.auth.Addr); !ok {
		t.Errorf("no auth_http_connections_opened_total for the new endpoint:\n%s", m.grep("connections_opened"))
	}
	// The old server's kept-alive connections are closed (polled: the
	// close may happen after the reload is counted).
	var open int
	waitFor(t, 5*time.Second, func() bool {
		old.mu.Lock()
		open = len(old.conns)
		old.mu.Unlock()
		return open == 0
	}, func() string {
		return fmt.Sprintf("%d kept-alive connections to the old auth_http server still open 5s after the reload", open)
	})
	if _, ok := m.sum("mailproxy_auth_http_connections_opened_total", "endpoint", old.Addr); ok {
		t.Errorf("the endpoint no configuration uses any more is still exposed:\n%s", m.grep("connections_opened"))
	}
}

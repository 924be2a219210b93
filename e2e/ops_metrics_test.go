package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

func TestOpsMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed (scripts/test.sh installs package prometheus)")
	}
	r := newOpsRig(t, opsOpts{extra: "timeout 2s;\nmax_errors 3;"})
	lbl := []string{"protocol", "imap", "listener", fmt.Sprintf("127.0.0.1:%d", r.port)}

	const logins, wrong = 5, 3
	var toBackend, toClient int
	for i := range logins {
		c := &opsCounter{c: dialIMAP(t, r.port)}
		c.c.login("a1", "user", "pass")
		c.send(fmt.Sprintf("a2 ECHO hello-%d\r\n", i))
		c.expect(fmt.Sprintf("* ECHO hello-%d", i), "a2 OK ECHO completed")
		c.send("a3 NOOP\r\n")
		c.expect("a3 OK NOOP completed")
		c.send("a4 LOGOUT\r\n")
		c.expect("* BYE fake backend logging out", "a4 OK LOGOUT completed")
		c.c.expectEOF()
		toBackend += c.toBackend
		toClient += c.toClient
	}
	for i := range wrong {
		c := dialIMAP(t, r.port)
		c.send(fmt.Sprintf("a1 LOGIN bad wrong%d\r\n", i))
		c.expect("a1 NO Invalid login or password")
		c.expectEOF()
	}
	// Two invalid commands, then a polite LOGOUT; then max_errors (3).
	c := dialIMAP(t, r.port)
	c.send("x1 FOO\r\n")
	c.expect("x1 BAD invalid command")
	c.send("x+ NOOP\r\n")
	c.expect("* BAD invalid command")
	c.send("x2 LOGOUT\r\n")
	c.expect("* BYE", "x2 OK completed")
	c.expectEOF()
	c = dialIMAP(t, r.port)
	for i := range 3 {
		c.send(fmt.Sprintf("y%d FOO\r\n", i))
		c.expect(fmt.Sprintf("y%d BAD invalid command", i))
	}
	c.expectEOF()
	// One client that says nothing: closed by "timeout 2s" in pre-auth.
	c = dialIMAP(t, r.port)
	c.expectEOF()

	// startProxy's readiness probe is one more accepted connection.
	accepted := float64(1 + logins + wrong + 3)
	m := r.waitMetrics(t, "all sessions closed", func(m opsMetrics) bool {
		cur, _ := m.sum("mailproxy_connections_current")
		acc, _ := m.sum("mailproxy_connections_accepted_total")
		dur, _ := m.sum("mailproxy_session_duration_seconds_count")
		return cur == 0 && acc >= accepted && dur >= logins
	})
	m = r.scrape(t) // not a snapshot: take one that starts after all of it
	f := func(want float64, name string, kv ...string) {
		t.Helper()
		if got := m.val(t, name, append(append([]string(nil), lbl...), kv...)...); got != want {
			t.Errorf("%s%v = %v, want %v", name, kv, got, want)
		}
	}
	f(accepted, "mailproxy_connections_accepted_total")
	f(0, "mailproxy_connections_rejected_total")
	f(0, "mailproxy_connections_current", "phase", "pre_auth")
	f(0, "mailproxy_connections_current", "phase", "relay")
	f(logins, "mailproxy_auth_http_requests_total", "result", "ok")
	f(wrong, "mailproxy_auth_http_requests_total", "result", "fail")
	f(0, "mailproxy_auth_http_requests_total", "result", "error")
	f(0, "mailproxy_auth_http_requests_total", "result", "timeout")
	f(logins+wrong, "mailproxy_auth_http_request_duration_seconds_count")
	f(logins+wrong, "mailproxy_auth_http_request_duration_seconds_bucket", "le", "+Inf")
	f(logins, "mailproxy_backend_connect_duration_seconds_count")
	f(0, "mailproxy_backend_connect_errors_total")
	f(logins, "mailproxy_sessions_established_total")
	f(logins, "mailproxy_session_duration_seconds_count")
	f(float64(toBackend), "mailproxy_relay_bytes_total", "direction", "to_backend")
	f(float64(toClient), "mailproxy_relay_bytes_total", "direction", "to_client")
	f(5, "mailproxy_commands_invalid_total")
	f(1, "mailproxy_connections_max_errors_closed_total")
	f(1, "mailproxy_timeouts_total", "phase", "pre_auth")
	f(0, "mailproxy_timeouts_total", "phase", "relay")
	f(0, "mailproxy_tls_handshakes_total")

	// Sequential logins share one kept-alive auth_http connection.
	if v := m.val(t, "mailproxy_auth_http_connections_opened_total", "endpoint", r.auth.Addr); v != 1 {
		t.Errorf("auth_http connections opened = %v for %d sequential requests, want 1 (keepalive)", v, logins+wrong)
	}
	g := func(want float64, name string, kv ...string) {
		t.Helper()
		if got := m.val(t, name, kv...); got != want {
			t.Errorf("%s%v = %v, want %v", name, kv, got, want)
		}
	}
	g(0, "mailproxy_config_reloads_total")
	g(1, "mailproxy_config_last_reload_successful")
	g(1, "mailproxy_build_info")
	m.val(t, "go_goroutines")
	m.val(t, "process_open_fds")
	m.val(t, "process_resident_memory_bytes")

	// Labels stay bounded: never a user, a client address or a port of one.
	allowed := map[string]bool{"protocol": true, "listener": true, "phase": true, "reason": true,
		"result": true, "direction": true, "type": true, "endpoint": true, "le": true,
		"version": true, "goversion": true}
	for _, s := range m.samples {
		if !strings.HasPrefix(s.name, "mailproxy_") {
			continue
		}
		for k := range s.labels {
			if !allowed[k] {
				t.Errorf("unexpected label %q in %s", k, s.line)
			}
		}
		if strings.Contains(s.line, `"user"`) || strings.Contains(s.line, "wrong") {
			t.Errorf("a login leaked into a label: %s", s.line)
		}
	}

	// The exposition passes promtool's lint with nothing to say.
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(m.text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// One "session done" line per finished session, with what the issue lists.
	log := r.waitLog(t, "session done", int(accepted))
	for _, want := range []string{
		`login: "user"`, fmt.Sprintf("upstream: 127.0.0.1:%d", r.be.Port), "protocol: imap",
		fmt.Sprintf("listener: 127.0.0.1:%d", r.port), "client: 127.0.0.1",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("error log has no %q:\n%s", want, tail(log, 3000))
		}
	}
}

// TestOpsMetricsFailures drives the failure counters: worker_connections
// reached, auth_http broken, backend refusing, proxy_timeout.
func TestOpsMetricsFailures(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{events: " worker_connections 3; ", extra: "proxy_timeout 1s;"})
	lbl := []string{"protocol", "imap", "listener", fmt.Sprintf("127.0.0.1:%d", r.port)}
	closed := freePort(t) // nothing listens there
	base := userAuth(r.be.Port)
	r.auth.setHandler(func(q *authReq) string {
		switch q.get("Auth-User") {
		case "refused":
			return authOK(closed)
		}
		return base(q)
	})
	idle := func(m opsMetrics) bool { v, _ := m.sum("mailproxy_connections_current"); return v == 0 }

	// worker_connections 3: the fourth client is closed at accept.
	var held []*client
	for range 3 {
		held = append(held, dialIMAP(t, r.port))
	}
	c := dial(t, r.port)
	c.expectEOF()
	for _, h := range held {
		h.c.Close()
	}
	r.waitMetrics(t, "held clients closed", idle)

	// auth_http closes without answering (twice: the keepalive retry).
	c = dialIMAP(t, r.port)
	c.send("a1 LOGIN close secret\r\n")
	c.expect("* BAD internal server error")
	c.expectEOF()
	// The backend refuses the connection.
	c = dialIMAP(t, r.port)
	c.send("a1 LOGIN refused secret\r\n")
	c.expect("* BAD internal server error")
	c.expectEOF()
	// A relayed session that stays silent past proxy_timeout.
	c = relayedSession(t, r.port)
	c.expectEOF()

	r.waitMetrics(t, "all closed", func(m opsMetrics) bool {
		v, _ := m.sum("mailproxy_timeouts_total", "phase", "relay")
		return idle(m) && v == 1
	})
	m := r.scrape(t)
	f := func(want float64, name string, kv ...string) {
		t.Helper()
		if got := m.val(t, name, append(append([]string(nil), lbl...), kv...)...); got != want {
			t.Errorf("%s%v = %v, want %v", name, kv, got, want)
		}
	}
	f(1, "mailproxy_connections_rejected_total", "reason", "limit")
	f(1, "mailproxy_connections_rejected_total")
	f(1, "mailproxy_auth_http_requests_total", "result", "error")
	f(2, "mailproxy_auth_http_requests_total", "result", "ok")
	f(1, "mailproxy_backend_connect_errors_total", "type", "refused")
	f(1, "mailproxy_backend_connect_errors_total")
	f(1, "mailproxy_backend_connect_duration_seconds_count")
	f(1, "mailproxy_sessions_established_total")
	f(1, "mailproxy_timeouts_total", "phase", "relay")
	f(1, "mailproxy_timeouts_total")
	log := r.waitLog(t, "session done", 3+1+3)
	for _, want := range []string{"reason: proxy_timeout", "worker_connections are not enough"} {
		if !strings.Contains(log, want) {
			t.Errorf("error log has no %q:\n%s", want, tail(log, 3000))
		}
	}
}

package e2e

import (
	"fmt"
	"testing"
)

// TestOpsMetricsTLS: client TLS handshakes are counted by result.
func TestOpsMetricsTLS(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := newOpsRigListen(t, opsOpts{extra: ts.directives("")}, " ssl")
	lbl := []string{"protocol", "imap", "listener", fmt.Sprintf("127.0.0.1:%d", r.port)}
	idle := func(m opsMetrics) bool {
		cur, _ := m.sum("mailproxy_connections_current")
		acc, _ := m.sum("mailproxy_connections_accepted_total")
		return cur == 0 && acc >= 1 // startProxy's probe has come and gone
	}
	r.waitMetrics(t, "probe closed", idle)
	before := r.scrape(t)

	for i := range 2 {
		c := tlsDial(t, r.port, ts.clientConf)
		c.expect("* OK IMAP4 ready")
		c.login("a1", "user", "pass")
		echoWorks(c, "a2", fmt.Sprintf("tls-%d", i))
		c.send("a3 LOGOUT\r\n")
		c.expect("* BYE fake backend logging out", "a3 OK LOGOUT completed")
		c.expectEOF()
	}
	// Plaintext to an ssl listener: a failed handshake.
	c := dial(t, r.port)
	c.send("a1 LOGIN user pass\r\n")
	c.drainToEOF(t)

	after := r.waitMetrics(t, "sessions closed", func(m opsMetrics) bool {
		acc, _ := m.sum("mailproxy_connections_accepted_total")
		b, _ := before.sum("mailproxy_connections_accepted_total")
		return idle(m) && acc >= b+3
	})
	after = r.scrape(t)
	f := func(want float64, name string, kv ...string) {
		t.Helper()
		kv = append(append([]string(nil), lbl...), kv...)
		if got := after.val(t, name, kv...) - before.val(t, name, kv...); got != want {
			t.Errorf("%s%v grew by %v, want %v", name, kv[4:], got, want)
		}
	}
	f(3, "mailproxy_connections_accepted_total")
	f(2, "mailproxy_sessions_established_total")
	f(2, "mailproxy_tls_handshakes_total", "result", "ok")
	f(1, "mailproxy_tls_handshakes_total", "result", "fail")
}

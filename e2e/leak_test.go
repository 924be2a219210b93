package e2e

import (
	"fmt"
	"testing"
	"time"
)

// Every way a session can end gives its descriptors back: after a few
// hundred sessions that log in, fail, break the protocol, hang up during
// auth or mid-literal, or are refused by the backend, mailproxy holds as
// many descriptors as it did before them (its kept-alive auth_http
// connections aside: how many it keeps is the auth client's business).
func TestIMAPNoDescriptorLeak(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "auth_http_timeout 3s; max_errors 2;", backendOpts{})
	r.loginWorks(t) // opens a kept-alive auth_http connection
	if len(tcpInodesTo(t, r.p.PID, r.auth.Addr)) == 0 {
		t.Fatal("no kept-alive auth_http connection seen in /proc/PID/net/tcp: the filter below would leave out nothing")
	}
	base := procFDs(t, r.p.PID, r.auth.Addr)
	for i := range 20 {
		// logged in, relayed, logged out
		r.loginWorks(t)
		// wrong password, closed by the proxy
		c := dialIMAP(t, r.port)
		c.send(fmt.Sprintf("b%d LOGIN bad secret\r\n", i))
		c.expect(fmt.Sprintf("b%d NO Invalid login or password", i))
		c.expectEOF()
		// too many invalid commands
		c = dialIMAP(t, r.port)
		c.send("x1 FOO\r\nx2 BAR\r\n")
		c.expect("x1 BAD invalid command", "x2 BAD invalid command")
		c.expectEOF()
		// gone while auth_http works, and gone in the middle of a literal
		c = dialIMAP(t, r.port)
		c.send("a1 LOGIN retry secret\r\n")
		c.c.Close()
		c = dialIMAP(t, r.port)
		c.send("a1 LOGIN {10}\r\nab")
		c.c.Close()
		// connected and gone without a word
		c = dial(t, r.port)
		c.c.Close()
	}
	r.loginWorks(t)
	// Closes are processed by the loops asynchronously: poll, bounded.
	var now int
	waitFor(t, 10*time.Second, func() bool {
		now = procFDs(t, r.p.PID, r.auth.Addr)
		return now <= base
	}, func() string {
		return fmt.Sprintf("mailproxy holds %d descriptors after 120 finished sessions, %d before them", now, base)
	})
}

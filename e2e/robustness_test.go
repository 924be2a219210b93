package e2e

import (
	"syscall"
	"testing"
	"time"
)

// Clients that vanish while their auth_http call is in flight or while
// Auth-Wait runs must not hurt the proxy or anyone else.
func TestIMAPDisconnectDuringAuth(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "auth_http_timeout 3s;", backendOpts{})
	for _, user := range []string{"hang", "retry", "bad", "user"} {
		for range 10 {
			c := dialIMAP(t, r.port)
			c.send("a1 LOGIN " + user + " secret\r\na2 NOOP\r\n")
			c.c.Close()
		}
	}
	r.loginWorks(t)
}

// Sessions whose auth server never answers wait for auth_http_timeout
// (default 60 s) each; they must not hold up other users' logins, as
// nginx's event loop does not.
func TestIMAPHungAuthDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	const hung = 64
	r := newIMAPRig(t, "", backendOpts{})
	var cs []*client
	for range hung {
		c := dialIMAP(t, r.port)
		c.send("a1 LOGIN hang secret\r\n")
		cs = append(cs, c)
	}
	// All hung requests reach the auth server: auth calls run concurrently.
	waitFor(t, ioWait, func() bool { return len(r.auth.requests()) >= hung },
		func() string { return "waiting for all 64 concurrent auth requests to reach the auth server" })
	r.loginWorks(t) // bounded by ioWait: far below the 60 s timeout
	for _, c := range cs {
		c.c.Close()
	}
}

// SIGINT stops at once (nginx's fast shutdown): auth_http calls in flight
// must not keep the process alive until auth_http_timeout (default 60 s).
func TestIMAPStopINTWithHungAuth(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})
	c := dialIMAP(t, r.port)
	c.send("a1 LOGIN hang secret\r\n")
	waitFor(t, ioWait, func() bool { return len(r.auth.requests()) == 1 },
		func() string { return "waiting for the auth request" })
	if err := syscall.Kill(r.p.PID, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.p.done:
	case <-time.After(ioWait):
		t.Fatalf("mailproxy still running %v after SIGINT with one auth_http call in flight", ioWait)
	}
}

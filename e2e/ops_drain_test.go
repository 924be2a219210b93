package e2e

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// opsRefused asserts that nothing accepts on port any more.
func opsRefused(t testing.TB, port int, when string) {
	t.Helper()
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), ioWait); err == nil {
		c.Close()
		t.Fatalf("%s: port %d still accepts connections", when, port)
	}
}

func TestOpsDrainTERM(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{shutdown: "30s"})
	pre := dialIMAP(t, r.port)
	pre.send("p1 NOOP\r\n")
	pre.expect("p1 OK completed")
	relayed := relayedSession(t, r.port)

	r.signal(t, syscall.SIGTERM)
	// Not logged in: the protocol's goodbye, then the close.
	pre.expect("* BYE Server shutting down")
	pre.expectEOF()
	opsRefused(t, r.port, "after TERM")
	// Logged in: goes on until the client is done.
	echoWorks(relayed, "r2", "draining")
	relayed.send("r3 NOOP\r\n")
	relayed.expect("r3 OK NOOP completed")
	r.p.mustBeAlive(t)
	relayed.send("r4 LOGOUT\r\n")
	relayed.expect("* BYE fake backend logging out", "r4 OK LOGOUT completed")
	relayed.expectEOF()
	if code := r.waitExit(t); code != 0 {
		t.Fatalf("exit code %d after TERM drain, want 0\n%s", code, r.p.logs())
	}
	log := r.waitLog(t, "session done", 2)
	if n := strings.Count(log, "shutdown timeout"); n != 0 {
		t.Fatalf("drain ended by the timeout although the session ended first:\n%s", tail(log, 3000))
	}
}

func TestOpsDrainShutdownTimeout(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{shutdown: "1s"})
	relayed := relayedSession(t, r.port)
	r.signal(t, syscall.SIGQUIT)
	// The session says nothing; worker_shutdown_timeout ends it.
	relayed.expectEOF()
	if code := r.waitExit(t); code != 0 {
		t.Fatalf("exit code %d after QUIT and shutdown timeout, want 0\n%s", code, r.p.logs())
	}
	r.waitLog(t, "shutdown timeout", 1)
}

func TestOpsStopINT(t *testing.T) {
	t.Parallel()
	// A long shutdown timeout that INT must not wait for.
	r := newOpsRig(t, opsOpts{shutdown: "10m"})
	pre := dialIMAP(t, r.port)
	relayed := relayedSession(t, r.port)
	r.signal(t, syscall.SIGINT)
	relayed.expectEOF()
	pre.drainToEOF(t)
	if code := r.waitExit(t); code != 0 {
		t.Fatalf("exit code %d after INT, want 0\n%s", code, r.p.logs())
	}
	// Both sessions were ended by the shutdown, not by their clients.
	data, _ := os.ReadFile(r.errorLog())
	if n := strings.Count(string(data), `reason: shutdown`); n != 2 {
		t.Fatalf("%d session lines with reason shutdown after INT, want 2\n%s", n, data)
	}
}

func TestOpsDrainGoodbyes(t *testing.T) {
	t.Parallel()
	auth := startAuth(t, userAuth(freePort(t)))
	imap, pop3, smtp := freePort(t), freePort(t), freePort(t)
	dir := t.TempDir()
	p := startProxy(t, fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
worker_shutdown_timeout 30s;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
    server {
        listen 127.0.0.1:%d;
        protocol imap;
    }
    server {
        listen 127.0.0.1:%d;
        protocol pop3;
    }
    server {
        listen 127.0.0.1:%d;
        protocol smtp;
    }
}
`, dir, auth.Addr, imap, pop3, smtp))
	ci := dialIMAP(t, imap)
	cp := dialPOP3(t, pop3)
	cs := dialSMTP(t, smtp)
	cs.send("EHLO c.example\r\n")
	cs.expect("250-mx.test", "250 AUTH PLAIN LOGIN")
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Each protocol's way of saying "come back later" (RFC 3501 BYE,
	// RFC 3206 [SYS/TEMP], RFC 5321 421), then the close.
	f := func(c *client, want string) {
		t.Helper()
		c.expect(want)
		c.expectEOF()
	}
	f(ci, "* BYE Server shutting down")
	f(cp, "-ERR [SYS/TEMP] server shutting down")
	f(cs, "421 4.3.2 Service shutting down")
	select {
	case <-p.done:
	case <-time.After(opsWait):
		t.Fatalf("mailproxy still running %v after TERM with only pre-auth sessions", opsWait)
	}
	if p.waitErr != nil {
		t.Fatalf("exit after TERM: %v, want 0\n%s", p.waitErr, p.logs())
	}
}

// A session waiting out Auth-Wait when TERM comes is not logged in: it
// gets the goodbye and does not hold the drain open.
func TestOpsDrainDuringAuthWait(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{}) // no worker_shutdown_timeout: nothing else ends the drain
	c := dialIMAP(t, r.port)
	c.send("a1 LOGIN retry secret\r\n")
	// The answer carries Auth-Wait: 1.
	waitFor(t, opsWait, func() bool { return len(r.auth.requests()) > 0 },
		func() string { return "no auth request" })
	r.signal(t, syscall.SIGTERM)
	// The goodbye at once (the wait is cut short) or after the NO.
	if l := c.line(); l == "a1 NO Invalid login or password" {
		c.expect("* BYE Server shutting down")
	} else if l != "* BYE Server shutting down" {
		t.Fatalf("got %q, want the goodbye", l)
	}
	c.expectEOF()
	if code := r.waitExit(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

func TestOpsReadyzDuringDrain(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{shutdown: "30s"})
	f := func(path string, want int) {
		t.Helper()
		if code, body := r.get(t, path); code != want {
			t.Fatalf("GET %s: %d %q, want %d", path, code, body, want)
		}
	}
	f("/livez", 200)
	f("/readyz", 200)
	f("/nosuch", 404)
	c := relayedSession(t, r.port)
	r.signal(t, syscall.SIGTERM)
	var code int
	readyzFail := func() string {
		return fmt.Sprintf("GET /readyz after TERM: %d, want 200 then 503 within %v", code, opsWait)
	}
	waitFor(t, opsWait, func() bool {
		code, _ = r.get(t, "/readyz")
		if code != 200 && code != 503 {
			t.Fatal(readyzFail())
		}
		return code == 503
	}, readyzFail)
	f("/livez", 200)
	// The relayed session holds the drain open; it still works.
	echoWorks(c, "r2", "draining")
	f("/readyz", 503)
	c.send("r3 LOGOUT\r\n")
	c.expect("* BYE fake backend logging out", "r3 OK LOGOUT completed")
	c.expectEOF()
	if code := r.waitExit(t); code != 0 {
		t.Fatalf("exit code %d after drain, want 0\n%s", code, r.p.logs())
	}
}

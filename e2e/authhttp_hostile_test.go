package e2e

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Issue 11, D3 and D7: a hostile or buggy auth server on a kept-alive
// auth_http connection, against the built binary with Python's imaplib.

// keepAuth is a raw keepalive auth server whose connections the test can
// write to outside any request (inject), as an auth script with a
// double-send bug does. answer gets the connection's number (from 0) and
// the request's Auth-User and Auth-Pass.
type keepAuth struct {
	Addr   string
	answer func(conn int, user, pass string) string

	mu    sync.Mutex
	conns []net.Conn
	seen  []string // "conn:user" per request
}

func startKeepAuth(t *testing.T, answer func(conn int, user, pass string) string) *keepAuth {
	t.Helper()
	a := &keepAuth{answer: answer}
	srv := startFakeServer(t, "auth", func(c net.Conn, _ *struct{}) {
		a.mu.Lock()
		n := len(a.conns)
		a.conns = append(a.conns, c)
		a.mu.Unlock()
		br := bufio.NewReader(c)
		for {
			req, err := authReadRequest(br)
			if err != nil {
				return
			}
			a.mu.Lock()
			a.seen = append(a.seen, strconv.Itoa(n)+":"+req.get("Auth-User"))
			a.mu.Unlock()
			if _, err := io.WriteString(c, a.answer(n, req.get("Auth-User"), req.get("Auth-Pass"))); err != nil {
				return
			}
		}
	})
	a.Addr = fmt.Sprintf("127.0.0.1:%d", srv.Port)
	return a
}

// inject writes b on connection n and waits until mailproxy's socket has
// it queued, so that the next login is made with the stray bytes there.
func (a *keepAuth) inject(t *testing.T, n int, b string) {
	t.Helper()
	a.mu.Lock()
	c := a.conns[n]
	a.mu.Unlock()
	if _, err := io.WriteString(c, b); err != nil {
		t.Fatal(err)
	}
	key := procNetAddr(t, c.RemoteAddr()) + " " + procNetAddr(t, c.LocalAddr())
	waitFor(t, 5*time.Second, func() bool {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Skip("no /proc/net/tcp:", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[1]+" "+f[2] == key {
				_, rx, _ := strings.Cut(f[4], ":")
				return strings.TrimLeft(rx, "0") != ""
			}
		}
		return false
	}, func() string { return "the injected answer is not queued on mailproxy's socket " + key })
}

func (a *keepAuth) requests() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.seen, " ")
}

// procNetAddr is a's form in /proc/net/tcp.
func procNetAddr(t *testing.T, a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP.To4() == nil {
		t.Fatalf("not an IPv4 TCP address: %v", a)
	}
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ta.IP.To4()), ta.Port)
}

// keepAnswer is a keepalive answer: OK for password "right", to the
// backend at port, the login passed on as Auth-User.
func keepAnswer(port int, user, pass string) string {
	if pass != "right" {
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAuth-Status: Invalid login or password\r\n\r\n"
	}
	return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + authOK(port) + "Auth-User: " + user + "\r\nAuth-Pass: right\r\n\r\n"
}

// imapLoginPy is imaplib logging in and out: argv host port user pass.
const imapLoginPy = `
import imaplib, socket, sys
socket.setdefaulttimeout(20)
m = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
try:
    typ, data = m.login(sys.argv[3], sys.argv[4])
except imaplib.IMAP4.error as e:
    print("login-error: Invalid login or password", e.args[0].decode() if isinstance(e.args[0], bytes) else e.args[0])
    sys.exit(0)
print("login:", typ, data[0].decode())
print("logout:", m.logout()[0])
`

func imapLogin(t *testing.T, port int, user, pass string) string {
	t.Helper()
	return runTool(t, "python3", "-c", imapLoginPy, "127.0.0.1", strconv.Itoa(port), user, pass)
}

// backendUsers lists the logins the fake backend saw, in order.
func backendUsers(t *testing.T, be *fakeBackend) string {
	var u []string
	for i := range be.count() {
		s := be.session(t, i)
		s.mu.Lock()
		u = append(u, s.user)
		s.mu.Unlock()
	}
	return strings.Join(u, " ")
}

// D3: an auth server writes a second, unsolicited answer (OK, Auth-User
// "injected") on the idle kept-alive connection. A client with a wrong
// password must get NO, the backend must never see "injected", and no
// later login may get another login's answer. nginx 1.22 is immune (a new
// connection per request); mailproxy sends the next request on a new one.
func TestAuthHTTPUnsolicitedSecondAnswerNotUsed(t *testing.T) {
	t.Parallel()
	needTool(t, "python3")
	be := startBackend(t, backendOpts{})
	auth := startKeepAuth(t, func(_ int, user, pass string) string { return keepAnswer(be.Port, user, pass) })
	port := freePort(t)
	p := startProxy(t, imapConf(t, auth.Addr, port, ""))

	if out := imapLogin(t, port, "alice", "right"); !strings.Contains(out, "login: OK") {
		t.Fatalf("alice:\n%s", out)
	}
	auth.inject(t, 0, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"+authOK(be.Port)+"Auth-User: injected\r\nAuth-Pass: right\r\n\r\n")

	if out := imapLogin(t, port, "mallory", "wrong"); !strings.Contains(out, "login-error: Invalid login or password") {
		t.Errorf("mallory with a wrong password:\n%s", out)
	}
	for _, u := range []string{"bob", "carol"} {
		if out := imapLogin(t, port, u, "right"); !strings.Contains(out, "login: OK") {
			t.Errorf("%s:\n%s", u, out)
		}
	}
	if got, want := backendUsers(t, be), "alice bob carol"; got != want {
		t.Errorf("backend logins %q, want %q", got, want)
	}
	if got, want := auth.requests(), "0:alice 1:mallory 1:bob 1:carol"; got != want {
		t.Errorf("auth server saw %q, want %q (each login once; mallory's on a new connection)", got, want)
	}
	p.mustBeAlive(t)
}

// D7: an answer that announces a body which never comes is acted on at
// its header block, as nginx does, not after auth_http_timeout (an hour
// here: the client's bounded read is what a held login runs into).
func TestAuthHTTPBodyNeverSentDoesNotHoldLogin(t *testing.T) {
	t.Parallel()
	f := func(name, framing string) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			be := startBackend(t, backendOpts{})
			auth := startKeepAuth(t, func(conn int, user, pass string) string {
				if conn == 0 {
					return "HTTP/1.1 200 OK\r\n" + framing + "\r\n" + authOK(be.Port) + "\r\n"
				}
				return keepAnswer(be.Port, user, pass)
			})
			port := freePort(t)
			p := startProxy(t, imapConf(t, auth.Addr, port, "auth_http_timeout 1h;"))
			c := dialIMAP(t, port)
			c.login("a1", "alice", "right")
			c.send("a2 LOGOUT\r\n")
			c.expect("* BYE fake backend logging out", "a2 OK LOGOUT completed")
			if out := imapLogin(t, port, "bob", "right"); !strings.Contains(out, "login: OK") {
				t.Errorf("bob:\n%s", out)
			}
			if got, want := auth.requests(), "0:alice 1:bob"; got != want {
				t.Errorf("auth server saw %q, want %q (the unfinished connection not reused)", got, want)
			}
			p.mustBeAlive(t)
		})
	}
	f("content-length", "Content-Length: 100")
	f("chunked", "Transfer-Encoding: chunked")
}

// D7: "Auth-Port: +26143" is not a port (nginx: "sent invalid server
// port"); the login ends in an internal error and no backend is dialled.
func TestAuthHTTPPortWithPlusRefused(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})
	r.auth.setHandler(func(*authReq) string {
		return "Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: +" + strconv.Itoa(r.be.Port) + "\r\n"
	})
	c := dialIMAP(t, r.port)
	c.send("a1 LOGIN user secret\r\n")
	c.expect("* BAD internal server error")
	c.expectEOF()
	if n := r.be.count(); n != 0 {
		t.Errorf("backend got %d connections, want none", n)
	}
	want := `sent invalid server port:"+` + strconv.Itoa(r.be.Port) + `"`
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(r.p.logs(), want) },
		func() string { return "no log line with " + want + ":\n" + r.p.logs() })
	r.p.mustBeAlive(t)
}

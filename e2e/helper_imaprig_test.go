package e2e

import (
	"strings"
	"sync"
	"testing"
)

// imapRig is mailproxy with one IMAP listener, a test auth server and a
// fake backend, all private to one test.
type imapRig struct {
	auth *authServer
	be   *fakeBackend
	p    *proc
	port int
}

// newIMAPRig starts the three pieces; extra goes inside mail{}. The auth
// server answers with userAuth(backend) unless the test sets a handler.
func newIMAPRig(t testing.TB, extra string, bo backendOpts) *imapRig {
	t.Helper()
	r := &imapRig{}
	r.be = startBackend(t, bo)
	r.auth = startAuth(t, userAuth(r.be.Port))
	r.port = freePort(t)
	r.p = startProxy(t, imapConf(t, r.auth.Addr, r.port, extra))
	return r
}

// backendNoReply is what the fake backend says to user "backno".
const backendNoReply = "NO [AUTHENTICATIONFAILED] backend says no"

// userBackendReply makes the fake backend refuse user "backno".
func userBackendReply(user string) string {
	if user == "backno" {
		return backendNoReply
	}
	return "OK [CAPABILITY IMAP4rev1] Logged in"
}

// userAuth is the auth handler shared by the IMAP and parity tests: the
// login name picks the answer, so the same transcript gets the same answer
// from any proxy.
//
//	bad       failure "Invalid login or password", no wait (client is closed)
//	retry     attempt 1: failure with Auth-Wait: 1; later attempts: OK
//	waitst    first request: Auth-Status: WAIT, Auth-Wait: 1; then OK
//	override  OK with Auth-User: backuser, Auth-Pass: backpass
//	broken    invalid header name (Auth_Status)
//	noserver  OK without Auth-Server / Auth-Port
//	hostname  OK with Auth-Server: localhost (not an IP)
//	big       OK after a 2000-byte header (block over nginx's 1024 bytes)
//	hang      never answers
//	close     closes without answering
//	nopass    OK without Auth-Pass (an error for cram-md5)
//	anything else: OK to the backend; for cram-md5 also Auth-Pass: pass
func userAuth(port int) func(*authReq) string {
	var mu sync.Mutex
	seen := map[string]int{}
	return func(r *authReq) string {
		user := r.get("Auth-User")
		mu.Lock()
		seen[user]++
		n := seen[user]
		mu.Unlock()
		ok := authOK(port)
		switch user {
		case "bad":
			return authFail("Invalid login or password", 0)
		case "retry":
			if r.get("Auth-Login-Attempt") == "1" {
				return authFail("Invalid login or password", 1)
			}
			return ok
		case "waitst":
			if n == 1 {
				return "Auth-Status: WAIT\r\nAuth-Wait: 1\r\n"
			}
			return ok
		case "override":
			return ok + "Auth-User: backuser\r\nAuth-Pass: backpass\r\n"
		case "broken":
			return "Auth_Status: OK\r\n"
		case "noserver":
			return "Auth-Status: OK\r\n"
		case "hostname":
			return strings.Replace(ok, "127.0.0.1", "localhost", 1)
		case "big":
			return "X-Pad: " + strings.Repeat("a", 2000) + "\r\n" + ok
		case "hang":
			return authHang
		case "close":
			return authClose
		case "nopass":
			return ok
		}
		if r.get("Auth-Method") == "cram-md5" {
			return ok + "Auth-Pass: pass\r\n"
		}
		return ok
	}
}

// loginWorks checks that a fresh client can still log in and log out.
func (r *imapRig) loginWorks(t testing.TB) {
	t.Helper()
	c := dialIMAP(t, r.port)
	c.login("z1", "user", "pass")
	c.send("z2 LOGOUT\r\n")
	c.expect("* BYE fake backend logging out", "z2 OK LOGOUT completed")
	c.expectEOF()
	r.p.mustBeAlive(t)
}

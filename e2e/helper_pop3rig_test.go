package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
)

// pop3ServerConf renders a complete mailproxy config with one server of
// protocol proto ("pop3" or "smtp") on port, auth_http at authAddr, and
// extra directives inside mail{}. It is imapConf for the other protocols.
func pop3ServerConf(t testing.TB, proto, authAddr string, port int, extra string) string {
	t.Helper()
	dir := t.TempDir()
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
        protocol %s;
    }
}
`, dir, dir, authAddr, indent(extra, "    "), port, proto)
}

// pop3Auth is the auth handler of the POP3 and SMTP tests: userAuth, plus
// the Auth-Pass nginx needs for apop and external (userAuth gives it for
// cram-md5), except for user "nopass". Users "smtperr" (failure with
// Auth-Error-Code) and "override" work as in userAuth.
func pop3Auth(port int) func(*authReq) string {
	base := userAuth(port)
	return func(r *authReq) string {
		user := r.get("Auth-User")
		switch user {
		case "smtperr":
			return "Auth-Status: unknown user\r\nAuth-Error-Code: 550 5.1.1\r\n"
		}
		ans := base(r)
		m := r.get("Auth-Method")
		if (m == "apop" || m == "external") && user != "nopass" && strings.HasPrefix(ans, "Auth-Status: OK") {
			ans += "Auth-Pass: pass\r\n"
		}
		return ans
	}
}

// pop3Rig is mailproxy with one POP3 listener, a test auth server and a
// fake POP3 backend, all private to one test.
type pop3Rig struct {
	auth *authServer
	be   *pop3Backend
	p    *proc
	port int
}

func newPOP3Rig(t testing.TB, extra string) *pop3Rig {
	t.Helper()
	r := &pop3Rig{}
	r.be = startPOP3Backend(t)
	r.auth = startAuth(t, pop3Auth(r.be.Port))
	r.port = freePort(t)
	r.p = startProxy(t, pop3ServerConf(t, "pop3", r.auth.Addr, r.port, extra))
	return r
}

// dialPOP3 connects and expects the unsalted greeting.
func dialPOP3(t testing.TB, port int) *client {
	t.Helper()
	c := dial(t, port)
	c.expect("+OK POP3 ready")
	return c
}

// pop3Backend is a scripted POP3 server expecting nginx's backend login
// (reference §3.2.2): "USER <login>", "PASS <password>". User "backno" is
// refused with "-ERR [AUTH] backend says no". After login it answers
//
//	STAT        +OK 0 0
//	ECHO <x>    +OK <x>
//	QUIT        +OK fake pop3 bye, close
//	other       -ERR unknown command
//
// pop3Backend is a scripted POP3 backend (helper_fakeserver_test.go).
type pop3Backend = fakeServer[backendSession]

const (
	pop3BackendGreeting = "+OK fake pop3 ready"
	pop3BackendLoggedIn = "+OK fake pop3 logged in"
	pop3BackendNo       = "-ERR [AUTH] backend says no"
)

func startPOP3Backend(t testing.TB) *pop3Backend {
	t.Helper()
	return startFakeServer(t, "pop3 backend", pop3BackendServe)
}

func pop3BackendServe(c net.Conn, s *backendSession) {
	r := bufio.NewReader(c)
	rec := func(p string) {
		s.mu.Lock()
		s.login.WriteString(p)
		s.mu.Unlock()
	}
	say := func(l string) bool {
		_, err := io.WriteString(c, l+"\r\n")
		return err == nil
	}
	if !say(pop3BackendGreeting) {
		return
	}
	line, err := r.ReadString('\n')
	rec(line)
	user, ok := strings.CutPrefix(line, "USER ")
	if err != nil || !ok || !strings.HasSuffix(user, "\r\n") {
		s.mu.Lock()
		s.loginErr = fmt.Sprintf("first line %q is not USER", line)
		s.mu.Unlock()
		return
	}
	user = strings.TrimSuffix(user, "\r\n")
	if !say("+OK") {
		return
	}
	line, err = r.ReadString('\n')
	rec(line)
	pass, ok := strings.CutPrefix(line, "PASS ")
	if err != nil || !ok || !strings.HasSuffix(pass, "\r\n") {
		s.mu.Lock()
		s.loginErr = fmt.Sprintf("second line %q is not PASS", line)
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	s.user, s.pass = user, strings.TrimSuffix(pass, "\r\n")
	s.mu.Unlock()
	if user == "backno" {
		say(pop3BackendNo)
		return
	}
	if !say(pop3BackendLoggedIn) {
		return
	}
	for {
		line, err := r.ReadString('\n')
		s.mu.Lock()
		s.after.WriteString(line)
		s.mu.Unlock()
		if err != nil {
			return
		}
		l := strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(l, " ")
		switch strings.ToUpper(verb) {
		case "STAT":
			say("+OK 0 0")
		case "ECHO":
			say("+OK " + arg)
		case "QUIT":
			say("+OK fake pop3 bye")
			return
		default:
			say("-ERR unknown command")
		}
	}
}

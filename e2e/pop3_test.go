package e2e

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
)

// Wire strings are nginx's (reference §3.2), checked byte for byte; every
// row of the §3.2.1 table has a case here.

// pop3Req lists nginx's auth_http request lines for a POP3 login from
// 127.0.0.1 (Auth-Salt normalised by checkAuthReq). Methods other than
// plain carry Auth-Salt: the callers' sessions are salted (apop or
// cram-md5 enabled), and nginx then sends the salt with every method but
// plain.
func pop3Req(method, user, pass string, attempt int) []string {
	l := []string{
		"GET /auth HTTP/1.0",
		"Host: 127.0.0.1",
		"Auth-Method: " + method,
		"Auth-User: " + user,
		"Auth-Pass: " + pass,
	}
	if method != "plain" {
		l = append(l, "Auth-Salt: <SALT>")
	}
	return append(l, "Auth-Protocol: pop3", "Auth-Login-Attempt: "+strconv.Itoa(attempt), "Client-IP: 127.0.0.1")
}

func TestPOP3Greeting(t *testing.T) {
	t.Parallel()
	f := func(extra string, salted bool) {
		t.Helper()
		r := newPOP3Rig(t, extra)
		c := dial(t, r.port)
		l := c.line()
		if !salted {
			if l != "+OK POP3 ready" {
				t.Fatalf("greeting %q, want +OK POP3 ready", l)
			}
			return
		}
		salt, ok := strings.CutPrefix(l, "+OK POP3 ready ")
		if !ok || !pop3SaltRe.MatchString(salt) {
			t.Fatalf("greeting %q, want +OK POP3 ready <RANDOM.TIME@mx.test>", l)
		}
	}
	f("", false)
	f("pop3_auth plain external;", false)
	f("pop3_auth plain apop;", true)
	f("pop3_auth cram-md5;", true)
}

func TestPOP3Capa(t *testing.T) {
	t.Parallel()
	f := func(extra string, want ...string) {
		t.Helper()
		r := newPOP3Rig(t, extra)
		c := dial(t, r.port)
		c.line()
		c.send("CAPA\r\n")
		c.expect(want...)
		c.send("QUIT\r\n")
		c.expect("+OK")
		c.expectEOF()
	}
	f("", "+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", ".")
	f("pop3_auth plain apop cram-md5 external;",
		"+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN CRAM-MD5 EXTERNAL", ".")
	// The SASL line is always there, even empty (nginx).
	f("pop3_auth apop; pop3_capabilities TOP UIDL \"RESP-CODES\";",
		"+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "SASL", ".")
}

func TestPOP3AuthList(t *testing.T) {
	t.Parallel()
	f := func(extra string, want ...string) {
		t.Helper()
		r := newPOP3Rig(t, extra)
		c := dial(t, r.port)
		c.line()
		c.send("AUTH\r\n")
		c.expect(want...)
	}
	f("", "+OK methods supported:", "PLAIN", "LOGIN", ".")
	f("pop3_auth external cram-md5 plain;", "+OK methods supported:", "PLAIN", "LOGIN", "CRAM-MD5", "EXTERNAL", ".")
	f("pop3_auth apop;", "+OK methods supported:", ".")
}

func TestPOP3PreauthCommands(t *testing.T) {
	t.Parallel()
	r := newPOP3Rig(t, "")
	c := dialPOP3(t, r.port)
	f := func(cmd string, want ...string) {
		t.Helper()
		c.send(cmd)
		c.expect(want...)
	}
	f("NOOP\r\n", "+OK")
	f("noop\r\n", "+OK")
	f("STAT\r\n", "-ERR invalid command")
	f("PASS x\r\n", "-ERR invalid command") // PASS only right after USER
	f("APOP u 0123456789abcdef0123456789abcdef\r\n", "-ERR invalid command")
	f("STLS\r\n", "-ERR invalid command") // TLS not built: as starttls off
	f("USER\r\n", "-ERR invalid command")
	f("AUTH XOAUTH2\r\n", "-ERR invalid command")
	f("AUTH CRAM-MD5\r\n", "-ERR invalid command") // not enabled
	f("AUTH EXTERNAL\r\n", "-ERR invalid command") // not enabled
	// After USER only PASS, CAPA, NOOP, QUIT; anything else (even USER)
	// is refused and forgets the USER.
	f("USER a\r\n", "+OK")
	f("NOOP\r\n", "+OK")
	f("USER b\r\n", "-ERR invalid command")
	f("PASS x\r\n", "-ERR invalid command")
	f("USER a\r\n", "+OK")
	f("CAPA\r\n", "+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", ".")
	f("QUIT\r\n", "+OK")
	c.expectEOF()
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("pre-auth commands made %d auth requests", n)
	}
}

func TestPOP3LoginForms(t *testing.T) {
	t.Parallel()
	r := newPOP3Rig(t, "pop3_auth plain apop cram-md5 external;")
	// f runs one login: steps alternate client send / expected line ("" for
	// none, "*" for a line not checked); then the backend's PASS reply must reach the client, the auth
	// request must be nginx's, and the backend must get USER/PASS.
	f := func(steps []string, req []string, backend string) {
		t.Helper()
		n := r.be.count()
		nreq := len(r.auth.requests())
		c := dial(t, r.port)
		greet := c.line()
		salt := strings.TrimPrefix(greet, "+OK POP3 ready ")
		cram := ""
		for i := 0; i < len(steps); i += 2 {
			send := steps[i]
			if strings.Contains(send, "<APOP>") {
				send = strings.Replace(send, "<APOP>", pop3APOP(salt, "pass"), 1)
			}
			if strings.Contains(send, "<CRAM>") {
				cram = cramDigest(c, "pass")
				send = strings.Replace(send, "<CRAM>", cram, 1)
				send = b64(strings.TrimSuffix(send, "\r\n")) + "\r\n"
			}
			c.send(send)
			switch steps[i+1] {
			case "":
			case "*":
				c.line() // a challenge, used by the next step
			default:
				c.expect(steps[i+1])
			}
		}
		c.expect(pop3BackendLoggedIn)
		reqs := r.auth.requests()
		if len(reqs) != nreq+1 {
			t.Fatalf("got %d auth requests, want 1", len(reqs)-nreq)
		}
		for i, l := range req {
			l = strings.Replace(l, "<APOP>", pop3APOP(salt, "pass"), 1)
			req[i] = strings.Replace(l, "<CRAM>", cram, 1)
		}
		checkAuthReq(t, reqs[nreq], req...)
		if s := reqs[nreq].get("Auth-Salt"); s != "" && s != salt {
			t.Fatalf("Auth-Salt %q, greeting had %q", s, salt)
		}
		if got := r.be.session(t, n).Login(); got != backend {
			t.Fatalf("backend got %q, want %q", got, backend)
		}
		c.send("QUIT\r\n")
		c.expect("+OK fake pop3 bye")
		c.expectEOF()
	}
	up := "USER user\r\nPASS pass\r\n"
	f([]string{"USER user\r\n", "+OK", "PASS pass\r\n", ""}, pop3Req("plain", "user", "pass", 1), up)
	f([]string{"user user\r\n", "+OK", "pass pass\r\n", ""}, pop3Req("plain", "user", "pass", 1), up)
	// USER and PASS take the rest of the line, spaces included.
	f([]string{"USER a b\r\n", "+OK", "PASS sec ret\r\n", ""}, pop3Req("plain", "a%20b", "sec%20ret", 1),
		"USER a b\r\nPASS sec ret\r\n")
	f([]string{"APOP user <APOP>\r\n", ""}, pop3Req("apop", "user", "<APOP>", 1), up)
	f([]string{"AUTH PLAIN\r\n", "+ ", b64("\x00user\x00pass") + "\r\n", ""}, pop3Req("plain", "user", "pass", 1), up)
	f([]string{"AUTH PLAIN " + b64("authz\x00user\x00pass") + "\r\n", ""}, pop3Req("plain", "user", "pass", 1), up)
	f([]string{"AUTH LOGIN\r\n", "+ VXNlcm5hbWU6", b64("user") + "\r\n", "+ UGFzc3dvcmQ6", b64("pass") + "\r\n", ""},
		pop3Req("plain", "user", "pass", 1), up)
	f([]string{"AUTH LOGIN " + b64("user") + "\r\n", "+ UGFzc3dvcmQ6", b64("pass") + "\r\n", ""},
		pop3Req("plain", "user", "pass", 1), up)
	f([]string{"AUTH CRAM-MD5\r\n", "*", "user <CRAM>\r\n", ""}, pop3Req("cram-md5", "user", "<CRAM>", 1), up)
	f([]string{"AUTH EXTERNAL\r\n", "+ VXNlcm5hbWU6", b64("user") + "\r\n", ""}, pop3Req("external", "user", "", 1), up)
	f([]string{"AUTH EXTERNAL " + b64("user") + "\r\n", ""}, pop3Req("external", "user", "", 1), up)
	// Auth-User / Auth-Pass from the auth server are what the backend gets.
	f([]string{"USER override\r\n", "+OK", "PASS x\r\n", ""}, pop3Req("plain", "override", "x", 1),
		"USER backuser\r\nPASS backpass\r\n")
}

// pop3APOP is the APOP digest of RFC 1939 §7.
func pop3APOP(salt, pass string) string {
	h := md5.Sum([]byte(salt + pass))
	return hex.EncodeToString(h[:])
}

func TestPOP3CramMD5Challenge(t *testing.T) {
	t.Parallel()
	r := newPOP3Rig(t, "pop3_auth plain cram-md5;")
	c := dial(t, r.port)
	salt := strings.TrimPrefix(c.line(), "+OK POP3 ready ")
	c.send("AUTH CRAM-MD5\r\n")
	l := c.line()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "+ "))
	if !strings.HasPrefix(l, "+ ") || err != nil || string(raw) != salt {
		t.Fatalf("challenge %q (%q), want + base64(%s): the greeting's salt", l, raw, salt)
	}
	m := hmac.New(md5.New, []byte("pass"))
	m.Write(raw)
	// cram-md5 and apop need Auth-Pass from the auth server (reference §2.6).
	c.send(b64("nopass "+hex.EncodeToString(m.Sum(nil))) + "\r\n")
	c.expect("-ERR internal server error")
	c.expectEOF()
}

func TestPOP3BadSASL(t *testing.T) {
	t.Parallel()
	r := newPOP3Rig(t, "")
	c := dialPOP3(t, r.port)
	f := func(cmd string, want ...string) {
		t.Helper()
		c.send(cmd)
		c.expect(want...)
	}
	f("AUTH PLAIN\r\n", "+ ")
	f("!!!\r\n", "-ERR invalid command")
	f("AUTH PLAIN\r\n", "+ ")
	f("*\r\n", "-ERR invalid command") // cancel is invalid base64 for nginx
	f("AUTH LOGIN\r\n", "+ VXNlcm5hbWU6")
	f("!!!\r\n", "-ERR invalid command")
	f("AUTH PLAIN !!!\r\n", "-ERR invalid command")
	// None of these counted for max_errors (5): still alive.
	f("NOOP\r\n", "+OK")
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("bad SASL made %d auth requests", n)
	}
}

func TestPOP3Pipelining(t *testing.T) {
	t.Parallel()
	r := newPOP3Rig(t, "")
	c := dialPOP3(t, r.port)
	// USER, PASS and QUIT in one packet: QUIT waits for the backend.
	c.send("CAPA\r\nUSER user\r\nPASS pass\r\nSTAT\r\nQUIT\r\n")
	c.expect("+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", ".", "+OK",
		pop3BackendLoggedIn, "+OK 0 0", "+OK fake pop3 bye")
	c.expectEOF()
	if got, want := r.be.session(t, 0).After(), "STAT\r\nQUIT\r\n"; got != want {
		t.Fatalf("backend got %q after login, want %q", got, want)
	}
}

func TestPOP3MaxErrors(t *testing.T) {
	t.Parallel()
	r := newPOP3Rig(t, "max_errors 3;")
	c := dialPOP3(t, r.port)
	// Refusals of known commands do not count; parser errors do.
	c.send("PASS x\r\nSTLS\r\nUSER\r\n")
	c.expect("-ERR invalid command", "-ERR invalid command", "-ERR invalid command")
	c.send("STAT\r\nLIST\r\nNOOP\r\n")
	c.expect("-ERR invalid command", "-ERR invalid command", "+OK")
	c.send("RETR 1\r\n")
	c.expect("-ERR invalid command")
	c.expectEOF()
}

// TestPOP3LongCredentials: nginx's fixed 128-byte buffer refuses long
// passwords and OAuth-sized tokens; pop3_client_buffer (default 4096)
// lets them through, and a line longer than it is refused and closed.
func TestPOP3LongCredentials(t *testing.T) {
	t.Parallel()
	r := newPOP3Rig(t, "")
	long := strings.Repeat("p", 2000)
	c := dialPOP3(t, r.port)
	c.send("AUTH PLAIN " + b64("\x00user\x00"+long) + "\r\n")
	c.expect(pop3BackendLoggedIn)
	if got := r.be.session(t, 0).Login(); got != "USER user\r\nPASS "+long+"\r\n" {
		t.Fatalf("backend got %q", trunc(got))
	}
	c = dialPOP3(t, r.port)
	c.send("USER " + strings.Repeat("u", 5000) + "\r\n")
	c.expect("-ERR invalid command")
	c.expectEOF()

	r = newPOP3Rig(t, "pop3_client_buffer 128;")
	c = dialPOP3(t, r.port)
	c.send("USER " + strings.Repeat("u", 121) + "\r\n")
	c.expect("+OK")
	c.send("PASS " + strings.Repeat("p", 122) + "\r\n")
	c.expect("-ERR invalid command")
	c.expectEOF()
}

func TestPOP3AuthFailure(t *testing.T) {
	t.Parallel()
	r := newPOP3Rig(t, "")
	c := dialPOP3(t, r.port)
	c.send("USER bad\r\nPASS secret\r\n")
	c.expect("+OK", "-ERR Invalid login or password")
	c.expectEOF()
	checkAuthReq(t, r.auth.requests()[0], pop3Req("plain", "bad", "secret", 1)...)

	// Failure with Auth-Wait: back to the start, the next attempt counts.
	c = dialPOP3(t, r.port)
	c.send("USER retry\r\nPASS secret\r\n")
	c.expect("+OK", "-ERR Invalid login or password")
	c.send("USER retry\r\nPASS secret\r\n")
	c.expect("+OK", pop3BackendLoggedIn)
	reqs := r.auth.requests()
	checkAuthReq(t, reqs[len(reqs)-1], pop3Req("plain", "retry", "secret", 2)...)
	if r.be.count() != 1 {
		t.Fatalf("backend has %d sessions, want 1", r.be.count())
	}
}

func TestPOP3InternalErrors(t *testing.T) {
	t.Parallel()
	r := newPOP3Rig(t, "pop3_auth plain apop;")
	f := func(user string) {
		t.Helper()
		c := dial(t, r.port)
		c.line()
		c.send("USER " + user + "\r\nPASS x\r\n")
		c.expect("+OK", "-ERR internal server error")
		c.expectEOF()
	}
	f("broken")
	f("noserver")
	f("hostname")
	f("close")
	// APOP needs Auth-Pass: nginx never had the plaintext password.
	c := dial(t, r.port)
	salt := strings.TrimPrefix(c.line(), "+OK POP3 ready ")
	c.send("APOP nopass " + pop3APOP(salt, "x") + "\r\n")
	c.expect("-ERR internal server error")
	c.expectEOF()
	r.p.mustBeAlive(t)
}

func TestPOP3BackendRefuses(t *testing.T) {
	t.Parallel()
	f := func(extra string, want string) {
		t.Helper()
		r := newPOP3Rig(t, extra)
		c := dialPOP3(t, r.port)
		c.send("USER backno\r\nPASS x\r\n")
		c.expect("+OK", want)
		c.expectEOF()
	}
	f("", "-ERR internal server error")
	f("proxy_pass_error_message on;", pop3BackendNo)
}

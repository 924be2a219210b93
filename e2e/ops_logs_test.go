package e2e

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// opsSecretAuth routes each protocol to its fake backend (the login name
// picks the answer as in userAuth and pop3Auth); user "ovr" is accepted
// with Auth-User/Auth-Pass overrides, the password opsOverridePass.
func opsSecretAuth(imap, pop3, smtp int) func(*authReq) string {
	hs := map[string]func(*authReq) string{
		"imap": userAuth(imap), "pop3": pop3Auth(pop3), "smtp": pop3Auth(smtp),
	}
	ports := map[string]int{"imap": imap, "pop3": pop3, "smtp": smtp}
	return func(r *authReq) string {
		proto := r.get("Auth-Protocol")
		if r.get("Auth-User") == "ovr" {
			return authOK(ports[proto]) + "Auth-User: user\r\nAuth-Pass: " + opsOverridePass + "\r\n"
		}
		if r.get("Auth-User") == "ctl" {
			// Control bytes in the failure text must not reach a log raw.
			return authFail("no\x1b[2J\x00way", 0)
		}
		if h := hs[proto]; h != nil {
			return h(r)
		}
		return authFail("unknown protocol", 0)
	}
}

const opsOverridePass = "Zq12AuthPassOverride"

// TestOpsNoPasswordInLogs logs in every way there is, right and wrong, with
// every log at debug, and then looks for each password, in clear, %-escaped
// as auth_http carries it, and as the base64 the client sent, in every log
// the process wrote.
func TestOpsNoPasswordInLogs(t *testing.T) {
	t.Parallel()
	ibe := startBackend(t, backendOpts{})
	pbe := startPOP3Backend(t)
	sbe := startSMTPBackend(t)
	auth := startAuth(t, opsSecretAuth(ibe.Port, pbe.Port, sbe.Port))
	imap, pop3, smtp := freePort(t), freePort(t), freePort(t)
	delayed, ppimap := freePort(t), freePort(t)
	dir := t.TempDir()
	logs := []string{filepath.Join(dir, "error.log"), filepath.Join(dir, "mail.log"), filepath.Join(dir, "server.log")}
	p := startProxy(t, fmt.Sprintf(`worker_processes 2;
error_log %s debug;
error_log stderr debug;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
    error_log %s debug;
    imap_auth plain login;
    server {
        listen 127.0.0.1:%d;
        protocol imap;
        error_log %s debug;
    }
    server {
        listen 127.0.0.1:%d;
        protocol pop3;
        pop3_auth plain;
    }
    server {
        listen 127.0.0.1:%d;
        protocol smtp;
        smtp_auth plain login;
        proxy_smtp_auth on;
    }
    server {
        listen 127.0.0.1:%d;
        protocol smtp;
        smtp_auth plain login;
        smtp_greeting_delay 5s;
    }
    server {
        listen 127.0.0.1:%d proxy_protocol;
        protocol imap;
    }
}
`, logs[0], auth.Addr, logs[1], imap, logs[2], pop3, smtp, delayed, ppimap))

	var secrets []string // every string that must not reach a log
	secret := func(pass string) string {
		secrets = append(secrets, pass, url.PathEscape(pass), strings.ReplaceAll(pass, " ", "%20"))
		return pass
	}
	payload := func(s string) string {
		secrets = append(secrets, b64(s))
		return b64(s)
	}
	sessions := 0

	// IMAP: each login form, then the failures.
	im := func(steps ...string) {
		t.Helper()
		sessions++
		c := dialIMAP(t, imap)
		for i := 0; i+1 < len(steps); i += 2 {
			c.send(steps[i])
			if steps[i+1] != "" {
				c.expect(steps[i+1])
			}
		}
		c.send("z9 LOGOUT\r\n")
		c.expect("* BYE fake backend logging out", "z9 OK LOGOUT completed")
		c.expectEOF()
	}
	ok := "a1 " + opsLoginLine
	im("a1 LOGIN user "+secret("Zq1AtomPw")+"\r\n", ok)
	im("a1 LOGIN user \""+secret("Zq2 Quoted Pw")+"\"\r\n", ok)
	im("a1 LOGIN user {12}\r\n", "+ OK", secret("Zq3LiteralPw")+"\r\n", ok)
	im("a1 LOGIN user {12+}\r\n"+secret("Zq4LitPlusPw")+"\r\n", ok)
	im("a1 AUTHENTICATE PLAIN\r\n", "+ ", payload("\x00user\x00"+secret("Zq5SaslPlain"))+"\r\n", ok)
	im("a1 AUTHENTICATE PLAIN "+payload("authz\x00user\x00"+secret("Zq6SaslIR"))+"\r\n", ok)
	im("a1 AUTHENTICATE LOGIN\r\n", "+ VXNlcm5hbWU6", b64("user")+"\r\n", "+ UGFzc3dvcmQ6",
		payload(secret("Zq7SaslLogin"))+"\r\n", ok)
	im("a1 LOGIN ovr "+secret("Zq11ClientPw")+"\r\n", ok)
	secret(opsOverridePass)
	// Auth-Wait failure, then success in the same session.
	im("a0 LOGIN retry "+secret("Zq9RetryWrong")+"\r\n", "a0 NO Invalid login or password",
		"a1 LOGIN retry "+secret("Zq10RetryRight")+"\r\n", ok)
	fail := func(port int, greeting string, steps ...string) {
		t.Helper()
		sessions++
		c := dial(t, port)
		c.expect(greeting)
		for _, s := range steps {
			c.send(s)
			c.line()
		}
		c.drainToEOF(t)
	}
	fail(imap, "* OK IMAP4 ready", "a1 LOGIN bad "+secret("Zq8WrongPw")+"\r\n")
	fail(imap, "* OK IMAP4 ready", "a1 LOGIN backno "+secret("Zq13BackendNo")+"\r\n")
	fail(imap, "* OK IMAP4 ready", "a1 AUTHENTICATE PLAIN "+payload("\x00bad\x00"+secret("Zq14SaslWrong"))+"\r\n")

	// Malformed credentials: the parser's complaints must not quote them.
	probe := func(port int, greeting, logout string, steps ...string) {
		t.Helper()
		sessions++
		c := dial(t, port)
		c.expect(greeting)
		for _, s := range steps {
			c.send(s)
			c.line()
		}
		c.send(logout)
		c.drainToEOF(t)
	}
	probe(imap, "* OK IMAP4 ready", "z LOGOUT\r\n", "a1 AUTHENTICATE PLAIN "+payload("user"+secret("Zq15NoNul"))+"\r\n")
	probe(imap, "* OK IMAP4 ready", "z LOGOUT\r\n", "a1 AUTHENTICATE PLAIN "+secret("Zq16Bad!!!")+"\r\n")
	probe(imap, "* OK IMAP4 ready", "z LOGOUT\r\n", "a1 AUTHENTICATE PLAIN\r\n", payload("\x00user")+"\r\n")
	fail(imap, "* OK IMAP4 ready", "a1 LOGIN user "+secret("Zq17Long")+strings.Repeat("x", 9000)+"\r\n")

	// POP3
	pp := func(steps ...string) {
		t.Helper()
		sessions++
		c := dialPOP3(t, pop3)
		for i := 0; i+1 < len(steps); i += 2 {
			c.send(steps[i])
			if steps[i+1] != "" {
				c.expect(steps[i+1])
			}
		}
		c.expect(pop3BackendLoggedIn)
		c.send("QUIT\r\n")
		c.expect("+OK fake pop3 bye")
		c.expectEOF()
	}
	pp("USER user\r\n", "+OK", "PASS "+secret("Zp1Pop Pass")+"\r\n", "")
	pp("AUTH PLAIN "+payload("\x00user\x00"+secret("Zp2PopPlain"))+"\r\n", "")
	fail(pop3, "+OK POP3 ready", "USER bad\r\n", "PASS "+secret("Zp3PopWrong")+"\r\n")
	probe(pop3, "+OK POP3 ready", "QUIT\r\n", "AUTH PLAIN "+payload(secret("Zp4NoNul"))+"\r\n")

	// SMTP, with proxy_smtp_auth: the password goes on to the backend too.
	sm := func(steps ...string) {
		t.Helper()
		sessions++
		c := dialSMTP(t, smtp)
		c.send("EHLO c.example\r\n")
		c.expect("250-mx.test", "250 AUTH PLAIN LOGIN")
		for i := 0; i+1 < len(steps); i += 2 {
			c.send(steps[i])
			if steps[i+1] != "" {
				c.expect(steps[i+1])
			}
		}
		c.expect("235 2.0.0 OK")
		c.send("QUIT\r\n")
		c.line()
		c.drainToEOF(t)
	}
	sm("AUTH PLAIN "+payload("\x00user\x00"+secret("Zs1SmtpPlain"))+"\r\n", "")
	sm("AUTH LOGIN\r\n", "334 VXNlcm5hbWU6", b64("user")+"\r\n", "334 UGFzc3dvcmQ6", payload(secret("Zs2SmtpLogin"))+"\r\n", "")
	sm("AUTH PLAIN "+payload("\x00ovr\x00"+secret("Zs4SmtpOvr"))+"\r\n", "")
	fail(smtp, "220 mx.test ESMTP ready", "EHLO c.example\r\n", "AUTH PLAIN "+payload("\x00bad\x00"+secret("Zs3SmtpWrong"))+"\r\n")
	probe(smtp, "220 mx.test ESMTP ready", "QUIT\r\n", "EHLO c.example\r\n", "AUTH PLAIN "+payload(secret("Zs5NoNul"))+"\r\n")

	// Issue 11, D5: the paths that quote what a client sent. An early
	// talker's buffer (smtp_greeting_delay) and a broken PROXY header
	// are logged cut before the credentials.
	early := func(port int, data string) {
		t.Helper()
		sessions++
		c := dial(t, port)
		c.send(data)
		c.drainToEOF(t)
	}
	early(delayed, "EHLO c.example\r\nAUTH PLAIN "+payload("\x00user\x00"+secret("Zs6EarlyTalker"))+"\r\n")
	early(delayed, "AUTH PLAIN "+payload("\x00user\x00"+secret("Zs7EarlyIR"))+"\r\n")
	early(ppimap, "a1 LOGIN user "+secret("Zq18BrokenPP")+"\r\n")
	fail(imap, "* OK IMAP4 ready", "a1 LOGIN ctl "+secret("Zq19CtlStatus")+"\r\n")
	secrets = append(secrets, "\x1b", "\x00")

	// The backends did get the passwords: the scan below is not vacuous.
	if got := ibe.session(t, 0).Login(); !strings.Contains(got, "Zq1AtomPw") {
		t.Fatalf("IMAP backend login %q lacks the password", got)
	}

	// Stop (TERM: sessions are over, so at once) and read everything written.
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	all := map[string]string{"stdout+stderr": p.out.String()}
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		all[l] = string(data)
	}
	// Session lines go to the error_log of their server (mail{} or
	// server{} level), as nginx's do.
	n := 0
	for _, l := range logs {
		n += strings.Count(all[l], "session done")
	}
	if n < sessions {
		t.Fatalf("the error logs have %d session lines, want %d: the scan would prove nothing\n%s", n, sessions, all[logs[0]])
	}
	for name, text := range all {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				i := strings.Index(text, s)
				lo, hi := max(0, i-200), min(len(text), i+len(s)+50)
				t.Errorf("%s contains secret %q: ...%s...", name, s, text[lo:hi])
			}
		}
	}
}

// TestOpsMailErrorLog: error_log in mail{} and server{} is honoured, as
// nginx does it: the sessions of a server go to its own log.
func TestOpsMailErrorLog(t *testing.T) {
	t.Parallel()
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	p1, p2 := freePort(t), freePort(t)
	dir := t.TempDir()
	mainLog, mailLog, srvLog := filepath.Join(dir, "error.log"), filepath.Join(dir, "mail.log"), filepath.Join(dir, "server.log")
	startProxy(t, fmt.Sprintf(`worker_processes 1;
error_log %s info;
events {}
mail {
    auth_http %s/auth;
    error_log %s info;
    server {
        listen 127.0.0.1:%d;
        protocol imap;
    }
    server {
        listen 127.0.0.1:%d;
        protocol imap;
        error_log %s info;
    }
}
`, mainLog, auth.Addr, mailLog, p1, p2, srvLog))
	for _, port := range []int{p1, p2} {
		if err := opsLogin(port, "user", "pass"); err != nil {
			t.Fatal(err)
		}
	}
	f := func(path string, port int) {
		t.Helper()
		want := fmt.Sprintf("listener: 127.0.0.1:%d", port)
		// The session line is written when the proxy sees the close,
		// which may be just after the client is done: poll, bounded.
		var data []byte
		waitFor(t, 5*time.Second, func() bool {
			data, _ = os.ReadFile(path)
			return strings.Contains(string(data), want)
		}, func() string {
			return fmt.Sprintf("%s has no session line with %q; it holds:\n%s", filepath.Base(path), want, tail(string(data), 2000))
		})
	}
	f(mailLog, p1)
	f(srvLog, p2)
}

func TestOpsReopenLogs(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{})
	if err := opsLogin(r.port, "before", "pass"); err != nil {
		t.Fatal(err)
	}
	r.waitLog(t, `login: "before"`, 2)
	rotated := r.errorLog() + ".1"
	if err := os.Rename(r.errorLog(), rotated); err != nil {
		t.Fatal(err)
	}
	r.signal(t, syscall.SIGUSR1)
	r.waitLog(t, "logs reopened", 1) // in the new file at the old path
	if err := opsLogin(r.port, "after", "pass"); err != nil {
		t.Fatal(err)
	}
	fresh := r.waitLog(t, `login: "after"`, 2)
	if strings.Contains(fresh, `login: "before"`) {
		t.Errorf("the reopened log holds lines from before the rotation:\n%s", fresh)
	}
	old, err := os.ReadFile(rotated)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(old), `login: "before"`) || strings.Contains(string(old), `login: "after"`) {
		t.Errorf("the rotated log should hold only the lines from before USR1:\n%s", old)
	}
}

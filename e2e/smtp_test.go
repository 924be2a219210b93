package e2e

import (
	"context"
	"encoding/base64"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Wire strings are nginx's (reference §3.3), checked byte for byte; every
// row of the §3.3.1 and §3.3.3 tables has a case here.

// smtpReq lists nginx's auth_http request lines for an SMTP login from
// 127.0.0.1; for method none, helo/from/to follow.
func smtpReq(method, user, pass string, attempt int, none ...string) []string {
	l := []string{
		"GET /auth HTTP/1.0",
		"Host: 127.0.0.1",
		"Auth-Method: " + method,
		"Auth-User: " + user,
		"Auth-Pass: " + pass,
	}
	if method == "cram-md5" {
		l = append(l, "Auth-Salt: <SALT>")
	}
	l = append(l, "Auth-Protocol: smtp", "Auth-Login-Attempt: "+strconv.Itoa(attempt),
		"Client-IP: 127.0.0.1", "Client-Host: [UNAVAILABLE]")
	if method == "none" {
		l = append(l, "Auth-SMTP-Helo: "+none[0], "Auth-SMTP-From: "+none[1], "Auth-SMTP-To: "+none[2])
	}
	return l
}

func TestSMTPGreetingAndEHLO(t *testing.T) {
	t.Parallel()
	f := func(extra string, want ...string) {
		t.Helper()
		r := newSMTPRig(t, extra)
		c := dialSMTP(t, r.port)
		c.send("EHLO client.example\r\n")
		c.expect(want...)
		c.send("HELO client.example\r\n")
		c.expect("250 mx.test")
		c.send("QUIT\r\n")
		c.expect("221 2.0.0 Bye")
		c.expectEOF()
	}
	f("", "250-mx.test", "250 AUTH PLAIN LOGIN")
	// AUTH mechanisms in nginx's fixed order, capabilities as given.
	f(`smtp_auth external cram-md5 login plain; smtp_capabilities "SIZE 10485760" PIPELINING 8BITMIME;`,
		"250-mx.test", "250-SIZE 10485760", "250-PIPELINING", "250-8BITMIME", "250 AUTH PLAIN LOGIN CRAM-MD5 EXTERNAL")
	f("smtp_auth none;", "250 mx.test")
	f("smtp_auth none; smtp_capabilities PIPELINING;", "250-mx.test", "250 PIPELINING")
}

func TestSMTPPreauthCommands(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "")
	c := dialSMTP(t, r.port)
	f := func(cmd string, want ...string) {
		t.Helper()
		c.send(cmd)
		c.expect(want...)
	}
	f("HELO\r\n", "501 5.5.4 Invalid argument")
	f("EHLO a b\r\n", "501 5.5.4 Invalid argument")
	f("AUTH\r\n", "501 5.5.4 Invalid argument")
	f("AUTH XOAUTH2\r\n", "500 5.5.1 Invalid command")
	f("AUTH CRAM-MD5\r\n", "500 5.5.1 Invalid command") // not enabled
	f("AUTH EXTERNAL\r\n", "500 5.5.1 Invalid command") // not enabled
	f("MAIL FROM:<a@b>\r\n", "530 5.7.1 Authentication required")
	f("RCPT TO:<a@b>\r\n", "503 5.5.1 Bad sequence of commands")
	f("RSET\r\n", "250 2.0.0 OK")
	f("NOOP\r\n", "250 2.0.0 OK")
	f("STARTTLS\r\n", "500 5.5.1 Invalid command") // TLS not built: as starttls off
	// Recognised and refused: not counted towards max_errors (5).
	f("VRFY a\r\nEXPN a\r\nHELP\r\nvrfy a\r\nHELP\r\nVRFY a\r\n",
		"500 5.5.1 Invalid command", "500 5.5.1 Invalid command", "500 5.5.1 Invalid command",
		"500 5.5.1 Invalid command", "500 5.5.1 Invalid command", "500 5.5.1 Invalid command")
	f("NOOP\r\n", "250 2.0.0 OK")
	f("QUIT\r\n", "221 2.0.0 Bye")
	c.expectEOF()
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("pre-auth commands made %d auth requests", n)
	}
}

func TestSMTPMaxErrors(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "max_errors 3;")
	c := dialSMTP(t, r.port)
	c.send("DATA\r\nFOO\r\nNOOP\r\n")
	c.expect("500 5.5.1 Invalid command", "500 5.5.1 Invalid command", "250 2.0.0 OK")
	c.send("\r\n")
	c.expect("500 5.5.1 Invalid command")
	c.expectEOF()
}

// smtpStep is one client line and the lines it must get back.
type smtpStep struct {
	send string
	want []string
}

func sstep(send string, want ...string) smtpStep { return smtpStep{send, want} }

// TestSMTPBackendDialogue checks what the backend receives for every row of
// reference §3.3.3 and what the client sees.
func TestSMTPBackendDialogue(t *testing.T) {
	t.Parallel()
	rigs := map[string]*smtpRig{}
	rig := func(extra string) *smtpRig {
		if rigs[extra] == nil {
			rigs[extra] = newSMTPRig(t, extra)
		}
		return rigs[extra]
	}
	plain := "AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n"
	f := func(extra string, steps []smtpStep, req []string, backend string) {
		t.Helper()
		r := rig(extra)
		n := r.be.count()
		nreq := len(r.auth.requests())
		c := dialSMTP(t, r.port)
		for _, s := range steps {
			c.send(s.send)
			c.expect(s.want...)
		}
		reqs := r.auth.requests()
		if len(reqs) != nreq+1 {
			t.Fatalf("got %d auth requests, want 1", len(reqs)-nreq)
		}
		checkAuthReq(t, reqs[nreq], req...)
		if got := r.be.session(t, n).Lines(); got != backend {
			t.Fatalf("backend got\n%q\nwant\n%q", got, backend)
		}
		c.send("QUIT\r\n")
		c.expect("221 2.0.0 Bye")
		c.expectEOF()
	}
	ehlo := sstep("EHLO c.example\r\n", "250-mx.test", "250 AUTH PLAIN LOGIN")
	ok := sstep(plain, "235 2.0.0 OK")
	plainReq := smtpReq("plain", "user", "pass", 1)
	xc := "EHLO mx.test\r\nXCLIENT ADDR=127.0.0.1 LOGIN=user NAME=[UNAVAILABLE]\r\n"

	// xclient on (default), AUTH.
	f("", []smtpStep{ehlo, ok}, plainReq, xc+"EHLO c.example\r\n")
	f("", []smtpStep{sstep("HELO c.example\r\n", "250 mx.test"), ok}, plainReq, xc+"HELO c.example\r\n")
	f("", []smtpStep{ok}, plainReq, xc)
	// The replayed verb is EHLO once the client used EHLO (nginx's esmtp flag).
	f("", []smtpStep{ehlo, sstep("HELO c2\r\n", "250 mx.test"), ok}, plainReq, xc+"EHLO c2\r\n")
	// xclient off, AUTH: nginx's own EHLO/HELO only.
	f("xclient off;", []smtpStep{ehlo, ok}, plainReq, "EHLO mx.test\r\n")
	f("xclient off;", []smtpStep{sstep("HELO c.example\r\n", "250 mx.test"), ok}, plainReq, "HELO mx.test\r\n")
	f("xclient off;", []smtpStep{ok}, plainReq, "HELO mx.test\r\n")
	// proxy_smtp_auth on: AUTH PLAIN to the backend, no LOGIN= in XCLIENT.
	f("proxy_smtp_auth on;", []smtpStep{ehlo, ok}, plainReq,
		"EHLO mx.test\r\nXCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]\r\nEHLO c.example\r\n"+plain)
	f("proxy_smtp_auth on; xclient off;", []smtpStep{sstep("HELO c.example\r\n", "250 mx.test"), ok}, plainReq,
		"HELO mx.test\r\n"+plain)
	// Auth-User/Auth-Pass overrides reach XCLIENT and AUTH PLAIN.
	f("proxy_smtp_auth on; xclient off;", []smtpStep{sstep("AUTH PLAIN "+b64("\x00override\x00x")+"\r\n", "235 2.0.0 OK")},
		smtpReq("plain", "override", "x", 1), "HELO mx.test\r\nAUTH PLAIN "+b64("\x00backuser\x00backpass")+"\r\n")

	// smtp_auth none: MAIL and RCPT before auth, the first RCPT logs in;
	// the backend's reply to the replayed RCPT reaches the client.
	none := "smtp_auth none;"
	mail := sstep("MAIL FROM:<s@x.org> SIZE=100 BODY=8BITMIME\r\n", "250 2.0.0 OK")
	rcpt := sstep("RCPT TO:<r@y.org> NOTIFY=NEVER\r\n", "250 2.1.5 Ok")
	noneReq := smtpReq("none", "", "", 1, "client.example",
		"MAIL FROM:<s@x.org> SIZE=100 BODY=8BITMIME", "RCPT TO:<r@y.org> NOTIFY=NEVER")
	envelope := "MAIL FROM:<s@x.org> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<r@y.org> NOTIFY=NEVER\r\n"
	f(none, []smtpStep{sstep("EHLO client.example\r\n", "250 mx.test"), mail, rcpt}, noneReq,
		"EHLO mx.test\r\nXCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]\r\nEHLO client.example\r\n"+envelope)
	f(none, []smtpStep{sstep("HELO client.example\r\n", "250 mx.test"), mail, rcpt}, noneReq,
		"EHLO mx.test\r\nXCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]\r\nHELO client.example\r\n"+envelope)
	// HELO is not required; bare LF and trailing spaces: replayed with CRLF,
	// trailing spaces dropped (nginx 1.22, verified).
	f(none, []smtpStep{sstep("MAIL FROM:<s@x.org>  \n", "250 2.0.0 OK"), sstep("rcpt TO:<bad@y.org>\r\n", "550 5.1.1 <bad@y.org>: Recipient address rejected")},
		smtpReq("none", "", "", 1, "", "MAIL FROM:<s@x.org>", "rcpt TO:<bad@y.org>"),
		"EHLO mx.test\r\nXCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]\r\nMAIL FROM:<s@x.org>\r\nrcpt TO:<bad@y.org>\r\n")
	f("smtp_auth none; xclient off;", []smtpStep{sstep("EHLO client.example\r\n", "250 mx.test"), mail, rcpt}, noneReq,
		"EHLO mx.test\r\n"+envelope)
	f("smtp_auth none; xclient off;", []smtpStep{sstep("HELO client.example\r\n", "250 mx.test"), mail, rcpt}, noneReq,
		"HELO mx.test\r\n"+envelope)
	// AUTH PLAIN and LOGIN are accepted even with smtp_auth none alone.
	f(none, []smtpStep{ok}, plainReq, xc)
}

func TestSMTPNoneSequence(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "smtp_auth none;")
	c := dialSMTP(t, r.port)
	f := func(cmd string, want ...string) {
		t.Helper()
		c.send(cmd)
		c.expect(want...)
	}
	f("RCPT TO:<r@y>\r\n", "503 5.5.1 Bad sequence of commands")
	f("MAIL\r\n", "501 5.5.4 Invalid argument")
	f("MAIL FROM:<a@b>\r\n", "250 2.0.0 OK")
	f("MAIL FROM:<a@b>\r\n", "503 5.5.1 Bad sequence of commands")
	f("RCPT\r\n", "501 5.5.4 Invalid argument")
	f("RSET\r\n", "250 2.0.0 OK") // forgets MAIL
	f("RCPT TO:<r@y>\r\n", "503 5.5.1 Bad sequence of commands")
	f("MAIL FROM:<a@b>\r\n", "250 2.0.0 OK")
	f("EHLO x\r\n", "250 mx.test") // forgets MAIL too
	f("RCPT TO:<r@y>\r\n", "503 5.5.1 Bad sequence of commands")
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("got %d auth requests, want none", n)
	}
}

func TestSMTPLoginForms(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "smtp_auth plain login cram-md5 external;")
	f := func(steps []smtpStep, req []string) {
		t.Helper()
		nreq := len(r.auth.requests())
		c := dialSMTP(t, r.port)
		cram := ""
		for _, s := range steps {
			send := s.send
			if strings.Contains(send, "<CRAM>") {
				last := c.seen[len(c.seen)-1]
				c.seen[len(c.seen)-1] = "+ " + strings.TrimPrefix(last, "334 ")
				cram = cramDigest(c, "pass")
				send = b64(strings.Replace(strings.TrimSuffix(send, "\r\n"), "<CRAM>", cram, 1)) + "\r\n"
			}
			c.send(send)
			for _, w := range s.want {
				if w == "*" {
					c.line()
					continue
				}
				c.expect(w)
			}
		}
		reqs := r.auth.requests()
		if len(reqs) != nreq+1 {
			t.Fatalf("got %d auth requests, want 1", len(reqs)-nreq)
		}
		for i := range req {
			req[i] = strings.Replace(req[i], "<CRAM>", cram, 1)
		}
		checkAuthReq(t, reqs[nreq], req...)
	}
	pr := smtpReq("plain", "user", "pass", 1)
	f([]smtpStep{sstep("AUTH PLAIN\r\n", "334 "), sstep(b64("\x00user\x00pass")+"\r\n", "235 2.0.0 OK")}, pr)
	f([]smtpStep{sstep("auth plain "+b64("authz\x00user\x00pass")+"\r\n", "235 2.0.0 OK")}, pr)
	f([]smtpStep{sstep("AUTH LOGIN\r\n", "334 VXNlcm5hbWU6"), sstep(b64("user")+"\r\n", "334 UGFzc3dvcmQ6"),
		sstep(b64("pass")+"\r\n", "235 2.0.0 OK")}, pr)
	// AUTH LOGIN <b64user>, the Microsoft form.
	f([]smtpStep{sstep("AUTH LOGIN "+b64("user")+"\r\n", "334 UGFzc3dvcmQ6"), sstep(b64("pass")+"\r\n", "235 2.0.0 OK")}, pr)
	f([]smtpStep{sstep("AUTH CRAM-MD5\r\n", "*"), sstep("user <CRAM>\r\n", "235 2.0.0 OK")},
		smtpReq("cram-md5", "user", "<CRAM>", 1))
	f([]smtpStep{sstep("AUTH EXTERNAL\r\n", "334 VXNlcm5hbWU6"), sstep(b64("user")+"\r\n", "235 2.0.0 OK")},
		smtpReq("external", "user", "", 1))
	f([]smtpStep{sstep("AUTH EXTERNAL "+b64("user")+"\r\n", "235 2.0.0 OK")}, smtpReq("external", "user", "", 1))
}

func TestSMTPCramChallenge(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "smtp_auth plain cram-md5;")
	c := dialSMTP(t, r.port)
	c.send("AUTH CRAM-MD5\r\n")
	l := c.line()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "334 "))
	if !strings.HasPrefix(l, "334 ") || err != nil || !pop3SaltRe.Match(raw) {
		t.Fatalf("challenge %q (%q), want 334 base64(<RANDOM.TIME@mx.test>)", l, raw)
	}
	c.send("*\r\n")
	c.expect("500 5.5.1 Invalid command")
	// The salt is made once per session and reused.
	c.send("AUTH CRAM-MD5\r\n")
	c.expect(l)
}

func TestSMTPBadSASL(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "")
	c := dialSMTP(t, r.port)
	f := func(cmd string, want ...string) {
		t.Helper()
		c.send(cmd)
		c.expect(want...)
	}
	f("AUTH PLAIN\r\n", "334 ")
	f("!!!\r\n", "500 5.5.1 Invalid command")
	f("AUTH PLAIN\r\n", "334 ")
	f("*\r\n", "500 5.5.1 Invalid command")
	f("AUTH LOGIN\r\n", "334 VXNlcm5hbWU6")
	f("!!!\r\n", "500 5.5.1 Invalid command")
	f("AUTH PLAIN !!!\r\n", "500 5.5.1 Invalid command")
	f("AUTH PLAIN a b c\r\n", "500 5.5.1 Invalid command")
	f("NOOP\r\n", "250 2.0.0 OK") // none of these counted
}

func TestSMTPAuthFailure(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "smtp_auth plain none;")
	f := func(cmds string, want ...string) {
		t.Helper()
		c := dialSMTP(t, r.port)
		c.send(cmds)
		c.expect(want...)
		c.expectEOF()
	}
	f("AUTH PLAIN "+b64("\x00bad\x00x")+"\r\n", "535 5.7.0 Invalid login or password")
	// Auth-Error-Code replaces 535 5.7.0.
	f("AUTH PLAIN "+b64("\x00smtperr\x00x")+"\r\n", "550 5.1.1 unknown user")
	f("AUTH PLAIN "+b64("\x00broken\x00x")+"\r\n", "451 4.3.2 Internal server error")
	f("AUTH PLAIN "+b64("\x00noserver\x00x")+"\r\n", "451 4.3.2 Internal server error")
	if r.be.count() != 0 {
		t.Fatal("a failed login reached the backend")
	}
	// Failure with Auth-Wait: back to pre-auth; on the none path the MAIL
	// is kept, so the client may try another recipient.
	r.auth.setHandler(func(a *authReq) string {
		if strings.Contains(a.get("Auth-SMTP-To"), "<bad") {
			return "Auth-Status: no such user\r\nAuth-Error-Code: 550 5.1.1\r\nAuth-Wait: 1\r\n"
		}
		return authOK(r.be.Port)
	})
	c := dialSMTP(t, r.port)
	c.send("MAIL FROM:<a@b>\r\nRCPT TO:<bad@y>\r\n")
	c.expect("250 2.0.0 OK", "550 5.1.1 no such user")
	c.send("RCPT TO:<good@y>\r\n")
	c.expect("250 2.1.5 Ok")
	reqs := r.auth.requests()
	checkAuthReq(t, reqs[len(reqs)-1], smtpReq("none", "", "", 2, "", "MAIL FROM:<a@b>", "RCPT TO:<good@y>")...)
}

func TestSMTPBackendRefuses(t *testing.T) {
	t.Parallel()
	// The fake backend refuses XCLIENT for nobody; a backend that is not
	// SMTP at all (the POP3 fake) fails at the greeting.
	f := func(extra, want string) {
		t.Helper()
		pb := startPOP3Backend(t)
		a := startAuth(t, func(*authReq) string { return authOK(pb.Port) })
		port := freePort(t)
		startProxy(t, pop3ServerConf(t, "smtp", a.Addr, port, extra))
		c := dialSMTP(t, port)
		c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
		c.expect(want)
		c.expectEOF()
	}
	f("", "451 4.3.2 Internal server error")
	f("proxy_pass_error_message on;", pop3BackendGreeting)
}

func TestSMTPPipelining(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "smtp_capabilities PIPELINING;")
	c := dialSMTP(t, r.port)
	// Everything in one packet: what follows AUTH waits for the backend,
	// and the client sees 235 before the backend's replies.
	c.send("EHLO c\r\nAUTH PLAIN " + b64("\x00user\x00pass") + "\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
	c.expect("250-mx.test", "250-PIPELINING", "250 AUTH PLAIN LOGIN", "235 2.0.0 OK",
		"250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n")
	c.expect("250 2.0.0 Ok: queued as FAKE1", "221 2.0.0 Bye")
	c.expectEOF()
	if got := r.be.session(t, 0).Data(); got != "Subject: hi\r\n\r\nbody\r\n" {
		t.Fatalf("backend got data %q", got)
	}

	// none path: the RCPTs after the first go straight to the backend.
	r = newSMTPRig(t, "smtp_auth none; smtp_capabilities PIPELINING;")
	c = dialSMTP(t, r.port)
	c.send("EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<bad@d>\r\nRCPT TO:<e@f>\r\nDATA\r\n")
	c.expect("250-mx.test", "250 PIPELINING", "250 2.0.0 OK", "250 2.1.5 Ok",
		"550 5.1.1 <bad@d>: Recipient address rejected", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")
	if n := len(r.auth.requests()); n != 1 {
		t.Fatalf("got %d auth requests, want 1", n)
	}
}

func TestSMTPGreetingDelay(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "smtp_greeting_delay 300ms;")
	// A client that waits gets the greeting.
	c := dialSMTP(t, r.port)
	c.send("NOOP\r\n")
	c.expect("250 2.0.0 OK")
	// An early talker is refused and closed.
	r2 := newSMTPRig(t, "smtp_greeting_delay 10s;")
	c = dial(t, r2.port)
	c.send("EHLO early\r\n")
	c.expect("503 5.5.0 Improper use of SMTP command pipelining")
	c.expectEOF()
}

func TestSMTPLongLine(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "smtp_client_buffer 256;")
	c := dialSMTP(t, r.port)
	c.send("AUTH PLAIN " + b64("\x00user\x00"+strings.Repeat("p", 150)) + "\r\n")
	c.expect("235 2.0.0 OK")
	c = dialSMTP(t, r.port)
	c.send("EHLO " + strings.Repeat("h", 300) + "\r\n")
	c.expect("500 5.5.1 Invalid command")
	c.expectEOF()
}

// TestSMTPBDATBeforeAuth: BDAT's payload follows without waiting for a
// reply; before login it must not be read as commands.
func TestSMTPBDATBeforeAuth(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "smtp_auth none;")
	c := dialSMTP(t, r.port)
	c.send("MAIL FROM:<a@b>\r\nBDAT 20 LAST\r\nRCPT TO:<x@y>\r\nQUIT\r\n")
	c.expect("250 2.0.0 OK", "500 5.5.1 Invalid command")
	c.expectEOF()
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("BDAT payload made %d auth requests", n)
	}
}

// TestSMTPChunkingRefused: advertising CHUNKING before auth lost mail
// behind nginx (Mailu #1766); mailproxy refuses to start with it.
func TestSMTPChunkingRefused(t *testing.T) {
	t.Parallel()
	a := startAuth(t, func(*authReq) string { return "" })
	conf := pop3ServerConf(t, "smtp", a.Addr, freePort(t), "smtp_capabilities PIPELINING CHUNKING;")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, mailproxyBin, "-c", writeConf(t, conf)).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("mailproxy started with CHUNKING advertised (err %v); output:\n%s", err, out)
	}
	if !strings.Contains(string(out), `"CHUNKING" in smtp_capabilities`) {
		t.Fatalf("output does not name the refused capability:\n%s", out)
	}
}

// TestSMTPXClientXtext: LOGIN= is xtext (nginx 1.29.2; 1.22 sends it raw):
// bytes < 0x21, '+', '=' and >= 0x7F become +XX.
func TestSMTPXClientXtext(t *testing.T) {
	t.Parallel()
	r := newSMTPRig(t, "")
	c := dialSMTP(t, r.port)
	c.send("AUTH PLAIN " + b64("\x00us er+=\xc3\xa4\x00pass") + "\r\n")
	c.expect("235 2.0.0 OK")
	checkAuthReq(t, r.auth.requests()[0], smtpReq("plain", "us%20er+=\xc3\xa4", "pass", 1)...)
	want := "EHLO mx.test\r\nXCLIENT ADDR=127.0.0.1 LOGIN=us+20er+2B+3D+C3+A4 NAME=[UNAVAILABLE]\r\n"
	if got := r.be.session(t, 0).Lines(); got != want {
		t.Fatalf("backend got %q, want %q", got, want)
	}
}

// TestSMTPXClientIPv6: an IPv6 client's address gets the IPV6: prefix.
func TestSMTPXClientIPv6(t *testing.T) {
	t.Parallel()
	be := startSMTPBackend(t)
	a := startAuth(t, func(*authReq) string { return authOK(be.Port) })
	port, port6 := freePort(t), freePort(t)
	conf := pop3ServerConf(t, "smtp", a.Addr, port, "")
	conf = strings.Replace(conf, "        protocol smtp;", "        listen [::1]:"+strconv.Itoa(port6)+";\n        protocol smtp;", 1)
	startProxy(t, conf) // waits for the 127.0.0.1 listener; both are bound before serving
	c := smtpDial6(t, port6)
	c.expect("220 mx.test ESMTP ready")
	c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.expect("235 2.0.0 OK")
	if got, want := be.session(t, 0).Lines(), "EHLO mx.test\r\nXCLIENT ADDR=IPV6:::1 LOGIN=user NAME=[UNAVAILABLE]\r\n"; got != want {
		t.Fatalf("backend got %q, want %q", got, want)
	}
	reqs := a.requests()
	if got := reqs[0].get("Client-IP"); got != "::1" {
		t.Fatalf("Client-IP %q, want ::1", got)
	}
}

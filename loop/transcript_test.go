package loop

import (
	"strings"
	"testing"

	"mailproxy/config"
)

// Transcript tests: each protocol's state machine driven through the real
// gnet callbacks on fake connections (transcript_helper_test.go), one
// exchange a line. The wire strings are nginx's (reference §3); the e2e
// tests check the same against the binary and nginx itself.

func TestIMAPTranscript(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		tr := newTranscript(t, testServerConfig(config.IMAP, nil))
		if g := tr.take(); g != "* OK IMAP4 ready\r\n" {
			t.Fatalf("greeting %q", g)
		}
		if got := tr.send(crlf(in)); got != crlf(want) {
			t.Fatalf("%q:\n got %q\nwant %q", in, got, crlf(want))
		}
	}
	f("a1 CAPABILITY\n", "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=PLAIN\na1 OK completed\n")
	f("a1 NOOP\n", "a1 OK completed\n")
	f("a1 ID NIL\n", "* ID NIL\na1 OK completed\n")
	f("a1 LOGOUT\n", "* BYE\na1 OK completed\n[closed]")
	f("a1 STARTTLS\n", "a1 BAD invalid command\n")
	f("a1 LOGIN bob secret\n", "[auth plain bob secret]")
	f("a1 LOGIN {3}\n", "+ OK\n")
	f("a1 LOGIN {3}\nbob {6}\nsecret\n", "+ OK\n+ OK\n[auth plain bob secret]")
	f("a1 LOGIN \"\" x\n", "a1 BAD invalid command\n")
	f("a1 AUTHENTICATE PLAIN\n", "+ \n")
	f("a1 AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\n", "[auth plain bob secret]")
	f("a1 AUTHENTICATE LOGIN\n", "+ VXNlcm5hbWU6\n")
	f("a1 AUTHENTICATE CRAM-MD5\n", "a1 BAD invalid command\n")
	f("a1 FOO\n", "a1 BAD invalid command\n")
	f("\n", "* BAD invalid command\n")
	f("a1 NOOP\na2 NOOP\n", "a1 OK completed\na2 OK completed\n")
	f("a1 NOOP", "")
}

func TestIMAPTranscriptSASL(t *testing.T) {
	tr := newTranscript(t, testServerConfig(config.IMAP, nil))
	tr.take()
	tr.script(
		"C: a1 AUTHENTICATE LOGIN\n", "S: + VXNlcm5hbWU6\n",
		"C: Ym9i\n", "S: + UGFzc3dvcmQ6\n",
		"C: c2VjcmV0\n", "S: [auth plain bob secret]",
	)
	tr = newTranscript(t, testServerConfig(config.IMAP, nil))
	tr.take()
	tr.script(
		"C: a1 AUTHENTICATE PLAIN\n", "S: + \n",
		"C: !!!\n", "S: a1 BAD invalid command\n",
		"C: a2 NOOP\n", "S: a2 OK completed\n",
	)
}

// TestIMAPTranscriptLogin runs a login to the relay: the auth answer, then
// nginx's backend dialogue (§3.1.5) with the client's tag.
func TestIMAPTranscriptLogin(t *testing.T) {
	tr := newTranscript(t, testServerConfig(config.IMAP, nil))
	tr.take()
	tr.script("C: t7 LOGIN bob secret\n", "S: [auth plain bob secret]")
	if got := tr.answer("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-User: bob@x\r\n"); got != "" {
		t.Fatalf("client got %q before the backend answered", got)
	}
	f := func(in, want string) {
		t.Helper()
		if got := tr.backend(crlf(in)); got != crlf(want) {
			t.Fatalf("backend %q:\n got %q\nwant %q", in, got, crlf(want))
		}
	}
	f("* OK ready\n", "t7 LOGIN {5}\n | ")
	f("+ go on\n", "bob@x {6}\n | ")
	f("+ go on\n", "secret\n | ")
	f("* CAPABILITY IMAP4rev1\n", " | ")
	f("t7 OK LOGIN done\n", " | * CAPABILITY IMAP4rev1\nt7 OK LOGIN done\n[relay]")
}

func TestIMAPTranscriptAuthAnswers(t *testing.T) {
	f := func(headers, want string) {
		t.Helper()
		tr := newTranscript(t, testServerConfig(config.IMAP, nil))
		tr.take()
		tr.script("C: a1 LOGIN bob pw\n", "S: [auth plain bob pw]")
		if got := tr.answer(headers); got != crlf(want) {
			t.Fatalf("%q:\n got %q\nwant %q", headers, got, crlf(want))
		}
	}
	f("Auth-Status: Invalid login\r\n", "a1 NO Invalid login\n[closed]")
	f("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: +143\r\n", "* BAD internal server error\n[closed]")
	f("Auth-Status: OK\r\nAuth-Server: localhost\r\nAuth-Port: 143\r\n", "* BAD internal server error\n[closed]")
	f("Auth-Status: OK\r\n", "* BAD internal server error\n[closed]")
	f("Auth-Status: Try later\r\nAuth-Wait: 3\r\n", "") // answered when the timer fires
}

func TestPOP3Transcript(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		tr := newTranscript(t, testServerConfig(config.POP3, nil))
		if g := tr.take(); g != "+OK POP3 ready\r\n" {
			t.Fatalf("greeting %q", g)
		}
		if got := tr.send(crlf(in)); got != crlf(want) {
			t.Fatalf("%q:\n got %q\nwant %q", in, got, crlf(want))
		}
	}
	f("CAPA\n", "+OK Capability list follows\nTOP\nUSER\nUIDL\nSASL PLAIN LOGIN\n.\n")
	f("NOOP\n", "+OK\n")
	f("QUIT\n", "+OK\n[closed]")
	f("USER bob\n", "+OK\n")
	f("USER bob\nPASS secret\n", "+OK\n[auth plain bob secret]")
	f("USER bob\nNOOP\nPASS secret\n", "+OK\n+OK\n[auth plain bob secret]")
	f("USER bob\nSTAT\nPASS secret\n", "+OK\n-ERR invalid command\n-ERR invalid command\n")
	f("PASS secret\n", "-ERR invalid command\n")
	f("APOP bob 0123\n", "-ERR invalid command\n")
	f("AUTH\n", "+OK methods supported:\nPLAIN\nLOGIN\n.\n")
	f("AUTH PLAIN AGJvYgBzZWNyZXQ=\n", "[auth plain bob secret]")
	f("STLS\n", "-ERR invalid command\n")
	f("FOO\n", "-ERR invalid command\n")
}

func TestPOP3TranscriptLogin(t *testing.T) {
	tr := newTranscript(t, testServerConfig(config.POP3, nil))
	tr.take()
	tr.script("C: USER bob\n", "S: +OK\n", "C: PASS secret\n", "S: [auth plain bob secret]")
	tr.answer("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 110\r\n")
	f := func(in, want string) {
		t.Helper()
		if got := tr.backend(crlf(in)); got != crlf(want) {
			t.Fatalf("backend %q:\n got %q\nwant %q", in, got, crlf(want))
		}
	}
	f("+OK hello\n", "USER bob\n | ")
	f("+OK\n", "PASS secret\n | ")
	f("+OK logged in\n", " | +OK logged in\n[relay]")
}

func TestSMTPTranscript(t *testing.T) {
	f := func(mod func(*config.Server), in, want string) {
		t.Helper()
		tr := newTranscript(t, testServerConfig(config.SMTP, mod))
		if g := tr.take(); g != "220 mx.test ESMTP ready\r\n" {
			t.Fatalf("greeting %q", g)
		}
		if got := tr.send(crlf(in)); got != crlf(want) {
			t.Fatalf("%q:\n got %q\nwant %q", in, got, crlf(want))
		}
	}
	none := func(c *config.Server) { c.SMTPAuth |= config.AuthNone }
	f(nil, "EHLO c.test\n", "250-mx.test\n250-SIZE\n250-ENHANCEDSTATUSCODES\n250 AUTH PLAIN LOGIN\n")
	f(nil, "HELO c.test\n", "250 mx.test\n")
	f(nil, "HELO\n", "501 5.5.4 Invalid argument\n")
	f(nil, "NOOP\n", "250 2.0.0 OK\n")
	f(nil, "RSET\n", "250 2.0.0 OK\n")
	f(nil, "QUIT\n", "221 2.0.0 Bye\n[closed]")
	f(nil, "MAIL FROM:<a@b>\n", "530 5.7.1 Authentication required\n")
	f(nil, "AUTH PLAIN AGJvYgBzZWNyZXQ=\n", "[auth plain bob secret]")
	f(nil, "AUTH LOGIN\n", "334 VXNlcm5hbWU6\n")
	f(nil, "AUTH LOGIN Ym9i\n", "334 UGFzc3dvcmQ6\n")
	f(nil, "AUTH CRAM-MD5\n", "500 5.5.1 Invalid command\n")
	f(nil, "STARTTLS\n", "500 5.5.1 Invalid command\n")
	f(nil, "VRFY bob\n", "500 5.5.1 Invalid command\n")
	f(nil, "BDAT 10 LAST\n", "500 5.5.1 Invalid command\n[closed]")
	f(none, "RCPT TO:<a@b>\n", "503 5.5.1 Bad sequence of commands\n")
	f(none, "MAIL FROM:<a@b>\nRCPT TO:<c@d>\n", "250 2.0.0 OK\n[auth none  ]")
	f(none, "MAIL FROM:<a@b>\nMAIL FROM:<a@b>\n", "250 2.0.0 OK\n503 5.5.1 Bad sequence of commands\n")
}

// TestSMTPTranscriptLogin: the helo and envelope of the none path reach
// the backend in nginx's order (§3.3.3), with XCLIENT.
func TestSMTPTranscriptLogin(t *testing.T) {
	tr := newTranscript(t, testServerConfig(config.SMTP, func(c *config.Server) { c.SMTPAuth |= config.AuthNone; c.XClient = true }))
	tr.take()
	tr.script("C: EHLO c.test\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\n", "S: 250-mx.test\n250-SIZE\n250-ENHANCEDSTATUSCODES\n250 AUTH PLAIN LOGIN\n250 2.0.0 OK\n[auth none  ]")
	tr.answer("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 25\r\n")
	f := func(in, want string) {
		t.Helper()
		if got := tr.backend(crlf(in)); got != crlf(want) {
			t.Fatalf("backend %q:\n got %q\nwant %q", in, got, crlf(want))
		}
	}
	f("220 b.test ESMTP\n", "EHLO mx.test\n | ")
	f("250 b.test\n", "XCLIENT ADDR=127.0.0.2 NAME=[UNAVAILABLE]\n | ")
	f("220 b.test\n", "EHLO c.test\n | ")
	f("250 b.test\n", "MAIL FROM:<a@b>\n | ")
	f("250 ok\n", "RCPT TO:<c@d>\n | ")
	f("250 2.1.5 ok\n", " | 250 2.1.5 ok\n[relay]")
	if !strings.Contains(string(tr.s.smtp.helo), "EHLO c.test") {
		t.Fatalf("helo %q", tr.s.smtp.helo)
	}
}

// TestSASLCredentialsWithLineBreaksRefused: decoded SASL credentials with
// CR, LF or NUL get the protocol's authentication failure without an
// auth_http call (issue 11, D4: "\0user1\r\nDELE 1\0pass" in AUTH PLAIN
// reached a POP3 backend as two commands).
func TestSASLCredentialsWithLineBreaksRefused(t *testing.T) {
	f := func(p config.Protocol, lines ...string) {
		t.Helper()
		tr := newTranscript(t, testServerConfig(p, nil))
		tr.take()
		tr.script(lines...)
		if tr.pool.tasks != 0 {
			t.Fatalf("%v: auth_http was asked", lines)
		}
	}
	f(config.POP3, "C: AUTH PLAIN AHVzZXIxDQpERUxFIDEAcGFzcw==\n", "S: -ERR Authentication failed\n[closed]")
	f(config.POP3, "C: AUTH PLAIN AHVzZXIxAHBhDQpzcw==\n", "S: -ERR Authentication failed\n[closed]")
	f(config.POP3, "C: AUTH LOGIN\n", "S: + VXNlcm5hbWU6\n", "C: dXMKcg==\n", "S: -ERR Authentication failed\n[closed]")
	f(config.POP3, "C: AUTH LOGIN\n", "S: + VXNlcm5hbWU6\n", "C: Ym9i\n", "S: + UGFzc3dvcmQ6\n", "C: cGEAc3M=\n", "S: -ERR Authentication failed\n[closed]")
	f(config.IMAP, "C: a1 AUTHENTICATE PLAIN AHVzZXIxDQpERUxFIDEAcGFzcw==\n", "S: a1 NO Authentication failed\n[closed]")
	f(config.IMAP, "C: a1 AUTHENTICATE LOGIN dXMKcg==\n", "S: a1 NO Authentication failed\n[closed]")
	f(config.SMTP, "C: AUTH PLAIN AHVzZXIxDQpERUxFIDEAcGFzcw==\n", "S: 535 5.7.8 Authentication failed\n[closed]")
	f(config.SMTP, "C: AUTH LOGIN dXMKcg==\n", "S: 535 5.7.8 Authentication failed\n[closed]")
}

// TestIMAPTranscriptLoginLiteralPlus: a backend whose greeting advertises
// LITERAL+ gets the whole LOGIN in one write, without the two "+" round
// trips nginx waits for (issue 15, deliverable 6).
func TestIMAPTranscriptLoginLiteralPlus(t *testing.T) {
	tr := newTranscript(t, testServerConfig(config.IMAP, nil))
	tr.take()
	tr.script("C: t7 LOGIN bob secret\n", "S: [auth plain bob secret]")
	tr.answer("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-User: bob@x\r\n")
	f := func(in, want string) {
		t.Helper()
		if got := tr.backend(crlf(in)); got != crlf(want) {
			t.Fatalf("backend %q:\n got %q\nwant %q", in, got, crlf(want))
		}
	}
	f("* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] ready\n", "t7 LOGIN {5+}\nbob@x {6+}\nsecret\n | ")
	f("t7 OK [CAPABILITY IMAP4rev1] Logged in\n", " | t7 OK [CAPABILITY IMAP4rev1] Logged in\n[relay]")
	if imapGreetingLiteralPlus([]byte("* OK ready LITERAL+\r\n")) || imapGreetingLiteralPlus([]byte("* OK [CAPABILITY LITERAL-] x\r\n")) {
		t.Fatal("LITERAL+ found outside a CAPABILITY response code")
	}
}

// refusingPool is a worker pool that is always full.
type refusingPool struct{ tries int }

func (p *refusingPool) TrySubmit(func()) bool { p.tries++; return false }

// TestAuthPoolFullAnswersOnce: with the worker pool full, a login gets the
// temporary failure once and the session reads on. The overload path used
// to parse what the client had pipelined at once, from inside the parser
// that had not consumed the login command yet: it parsed the same login
// again, and again, until the stack ran out (a fatal error, the process).
func TestAuthPoolFullAnswersOnce(t *testing.T) {
	f := func(p config.Protocol, in, want string) {
		t.Helper()
		tr := newTranscript(t, testServerConfig(p, nil))
		pool := &refusingPool{}
		tr.h.rt.pool = pool
		tr.take()
		if got := tr.send(crlf(in)); got != crlf(want) {
			t.Fatalf("%q:\n got %q\nwant %q", in, got, crlf(want))
		}
		if pool.tries != strings.Count(want, "try again later") {
			t.Fatalf("%q: %d submissions", in, pool.tries)
		}
	}
	f(config.IMAP, "a1 LOGIN u p\na2 NOOP\n", "a1 NO [UNAVAILABLE] server busy, try again later\na2 OK completed\n")
	f(config.POP3, "USER u\nPASS p\nNOOP\n", "+OK\n-ERR [SYS/TEMP] server busy, try again later\n+OK\n")
	f(config.SMTP, "AUTH PLAIN AHUAcA==\nNOOP\n", "454 4.7.0 Temporary authentication failure, try again later\n250 2.0.0 OK\n")
}

package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Passwords the auth server of TestPostfixSASL approves for dovecotUser
// besides dovecotPass, and the Auth-Pass it answers with for each.
const (
	saslToken      = "one-time-token" // Auth-Pass: dovecotPass
	saslStaleToken = "stale-token"    // Auth-Pass: saslStalePass, which Dovecot refuses
	saslStalePass  = "not-the-password"
)

// TestPostfixSASL: with proxy_smtp_auth on, mailproxy logs in to a real
// Postfix with AUTH PLAIN, and Postfix checks the password with Dovecot.
// Postfix relays to a domain outside mydestination only for an
// authenticated session, so a message to example.net is accepted only
// after a successful AUTH, and its queue file records sasl_method=PLAIN
// and the user, which only smtpd's own SASL sets. Mostly xclient off (the
// AUTH is the only login); one case with xclient on.
func TestPostfixSASL(t *testing.T) {
	t.Parallel()
	pf := startPostfixSASL(t, startDovecotAuth(t))
	auth := startAuth(t, func(r *authReq) string {
		if r.get("Auth-User") == dovecotUser {
			switch r.get("Auth-Pass") {
			case dovecotPass:
				return authOK(pf.Port) // the password the client typed goes on
			case saslToken:
				return authOK(pf.Port) + "Auth-Pass: " + dovecotPass + "\r\n"
			case saslStaleToken:
				return authOK(pf.Port) + "Auth-Pass: " + saslStalePass + "\r\n"
			}
		}
		return authFail("Invalid login or password", 0)
	})
	conf := `proxy_smtp_auth on; xclient off; smtp_auth plain login; smtp_capabilities PIPELINING "SIZE 10485760" 8BITMIME;`
	port := freePort(t)
	mp := startProxy(t, pop3ServerConf(t, "smtp", auth.Addr, port, conf))
	passPort := freePort(t)
	mpPass := startProxy(t, pop3ServerConf(t, "smtp", auth.Addr, passPort, conf+" proxy_pass_error_message on;"))
	xcPort := freePort(t)
	startProxy(t, pop3ServerConf(t, "smtp", auth.Addr, xcPort, strings.Replace(conf, "xclient off;", "xclient on;", 1)))

	// lastAuth checks the auth_http request of the latest login: the
	// password the client typed. Auth-Method is "plain" for AUTH LOGIN
	// too, as from nginx.
	lastAuth := func(t *testing.T, pass string) {
		t.Helper()
		reqs := auth.requests()
		if len(reqs) == 0 {
			t.Fatal("no auth_http request")
		}
		r := reqs[len(reqs)-1]
		if r.get("Auth-Method") != "plain" || r.get("Auth-User") != dovecotUser || r.get("Auth-Pass") != pass {
			t.Fatalf("auth_http request: want plain %s/%s, got\n%s", dovecotUser, pass, r.Raw)
		}
	}
	// saslQueued checks that the message to rcpt was accepted in a session
	// Postfix authenticated itself, with AUTH PLAIN, as dovecotUser.
	saslQueued := func(t *testing.T, rcpt string, want ...string) {
		t.Helper()
		postfixWant(t, pf.message(t, rcpt), append([]string{
			"named_attribute: sasl_method=PLAIN", "named_attribute: sasl_username=" + dovecotUser,
			"(Authenticated sender: " + dovecotUser + ")"}, want...)...)
	}
	swaks := func(t *testing.T, port int, rcpt string, args ...string) string {
		t.Helper()
		base := []string{"--server", fmt.Sprintf("127.0.0.1:%d", port), "--ehlo", "swaks.client",
			"--from", "sender@example.org", "--to", rcpt, "--header", "Subject: e2e via " + rcpt, "--timeout", "20"}
		return runTool(t, "swaks", append(base, args...)...)
	}

	t.Run("swaks-auth-plain", func(t *testing.T) {
		rcpt := "sasl-plain@example.net"
		out := swaks(t, port, rcpt, "--auth", "PLAIN", "--auth-user", dovecotUser, "--auth-password", dovecotPass)
		if !strings.Contains(out, "<-  235 2.0.0 OK") || !strings.Contains(out, "queued as") {
			t.Fatalf("swaks:\n%s", out)
		}
		lastAuth(t, dovecotPass)
		saslQueued(t, rcpt, "Received: from mx.test (localhost [127.0.0.1])", "with ESMTPA id", "Subject: e2e via "+rcpt)
	})
	t.Run("swaks-auth-login", func(t *testing.T) {
		// LOGIN from the client; mailproxy still logs in with PLAIN.
		rcpt := "sasl-login@example.net"
		out := swaks(t, port, rcpt, "--auth", "LOGIN", "--auth-user", dovecotUser, "--auth-password", dovecotPass)
		if !strings.Contains(out, " -> AUTH LOGIN") || !strings.Contains(out, "<-  235 2.0.0 OK") ||
			!strings.Contains(out, "queued as") {
			t.Fatalf("swaks:\n%s", out)
		}
		lastAuth(t, dovecotPass)
		saslQueued(t, rcpt, "with ESMTPA id", "Subject: e2e via "+rcpt)
	})
	t.Run("smtplib-auth-pass-override", func(t *testing.T) {
		// The client's password is a token only the auth server knows; its
		// Auth-Pass is what Postfix must see.
		rcpt := "sasl-token@example.net"
		out := runTool(t, "python3", "-c", smtpPyClient, "127.0.0.1", strconv.Itoa(port), "127.0.0.1",
			dovecotUser, saslToken, "sender@example.org", rcpt, "e2e via smtplib")
		wantLines(t, out, "ehlo: 250", "login: 235", "refused: {}", "quit: 221")
		lastAuth(t, saslToken)
		saslQueued(t, rcpt, "with ESMTPA id", "sent by smtplib")
	})
	t.Run("no-ehlo", func(t *testing.T) {
		// AUTH before any HELO: mailproxy greets Postfix with HELO (nginx's
		// choice when the client did not use EHLO), then AUTH PLAIN.
		rcpt := "sasl-helo@example.net"
		c := dialSMTP(t, port)
		c.send("AUTH PLAIN " + b64("\x00"+dovecotUser+"\x00"+dovecotPass) + "\r\n")
		c.expect("235 2.0.0 OK")
		c.send("MAIL FROM:<sender@example.org>\r\n")
		c.expect("250 2.1.0 Ok")
		c.send("RCPT TO:<" + rcpt + ">\r\n")
		c.expect("250 2.1.5 Ok")
		c.send("DATA\r\n")
		c.expect("354 End data with <CR><LF>.<CR><LF>")
		c.send("Subject: e2e via " + rcpt + "\r\n\r\nno EHLO\r\n.\r\n")
		if l := c.line(); !strings.HasPrefix(l, "250 2.0.0 Ok: queued as ") {
			t.Fatalf("DATA answered %q", l)
		}
		c.send("QUIT\r\n")
		c.expect("221 2.0.0 Bye")
		c.expectEOF()
		saslQueued(t, rcpt, "Received: from mx.test (localhost [127.0.0.1])",
			"with SMTP id", "no EHLO") // HELO session: no ESMTPA (RFC 3848 names ESMTP ones)
	})
	t.Run("xclient-on", func(t *testing.T) {
		// Reference §3.3.3: EHLO, XCLIENT without LOGIN=, the client's
		// EHLO, AUTH PLAIN. Postfix stamps the client's address and HELO
		// name from XCLIENT and the user from its own SASL.
		rcpt := "sasl-xclient@example.net"
		out := swaks(t, xcPort, rcpt, "--local-interface", "127.0.0.2",
			"--auth", "PLAIN", "--auth-user", dovecotUser, "--auth-password", dovecotPass)
		if !strings.Contains(out, "<-  235 2.0.0 OK") || !strings.Contains(out, "queued as") {
			t.Fatalf("swaks:\n%s", out)
		}
		saslQueued(t, rcpt, "Received: from swaks.client (unknown [127.0.0.2])", "with ESMTPA id")
	})
	t.Run("backend-rejects-password", func(t *testing.T) {
		// The auth server approves, Dovecot refuses the Auth-Pass. nginx
		// (reference §1.3 proxy_pass_error_message, §2.7): the SMTP
		// internal-error line, or with proxy_pass_error_message on the
		// backend's reply verbatim; then the session is closed.
		login := func(port int) string {
			t.Helper()
			c := dialSMTP(t, port)
			c.send("EHLO c.example\r\n")
			c.expect("250-mx.test", "250-PIPELINING", "250-SIZE 10485760", "250-8BITMIME", "250 AUTH PLAIN LOGIN")
			c.send("AUTH PLAIN " + b64("\x00"+dovecotUser+"\x00"+saslStaleToken) + "\r\n")
			l := c.line()
			c.expectEOF()
			lastAuth(t, saslStaleToken)
			return l
		}
		if l := login(port); l != "451 4.3.2 Internal server error" {
			t.Fatalf("AUTH answered %q, want the internal-error line", l)
		}
		// Postfix's own words after the code depend on Dovecot's reason.
		if l := login(passPort); !strings.HasPrefix(l, "535 5.7.8 Error: authentication failed:") {
			t.Fatalf("AUTH answered %q, want Postfix's 535 line", l)
		}
		mp.mustBeAlive(t)
		mpPass.mustBeAlive(t)
	})
}

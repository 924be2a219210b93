package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// Real clients over TLS: openssl s_client (implicit and -starttls
// imap|pop3|smtp), curl (imaps://, pop3s://, smtps:// and --ssl-reqd
// STARTTLS), Python imaplib/poplib/smtplib (IMAP4_SSL, starttls), swaks
// --tls / --tls-on-connect. IMAP and POP3 go to a private Dovecot, SMTP to
// the scripted SMTP backend. Every client verifies the proxy's
// certificate against the test CA.

func TestTLSRealClients(t *testing.T) {
	t.Parallel()
	r := newTLSRealRig(t)
	ca := r.ts.ca.Path
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	url := func(scheme string, p int, path string) string {
		return fmt.Sprintf("%s://%s:%s@127.0.0.1:%d/%s", scheme, dovecotUser, dovecotPass, p, path)
	}

	t.Run("openssl-imaps", func(t *testing.T) {
		out := tlsRun(t, "a1 LOGIN "+dovecotUser+" "+dovecotPass+"\r\na2 LOGOUT\r\n", "openssl", "s_client", "-connect", addr(r.imaps),
			"-CAfile", ca, "-verify_return_error", "-servername", "mx.test", "-alpn", "imap", "-quiet")
		for _, w := range []string{"* OK IMAP4 ready", "a1 OK", "a2 OK"} {
			if !strings.Contains(out, w) {
				t.Fatalf("lacks %q:\n%s", w, out)
			}
		}
	})
	for _, c := range []struct {
		proto string
		port  int
		input string
		want  []string
	}{
		{"imap", r.imap, "a1 CAPABILITY\r\na2 LOGIN " + dovecotUser + " " + dovecotPass + "\r\na3 LOGOUT\r\n", []string{"* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=PLAIN\r", "a2 OK", "a3 OK"}},
		{"pop3", r.pop3, "CAPA\r\nUSER " + dovecotUser + "\r\nPASS " + dovecotPass + "\r\nQUIT\r\n", []string{"SASL PLAIN LOGIN\r\n.\r\n", "+OK Logged in"}},
		{"smtp", r.smtp, "EHLO client.example\r\nAUTH PLAIN " + b64("\x00u\x00p") + "\r\nQUIT\r\n", []string{"250-SIZE 10485760", "250 AUTH PLAIN LOGIN\r", "235 2.0.0 OK", "221 2.0.0 Bye"}},
	} {
		t.Run("openssl-starttls-"+c.proto, func(t *testing.T) {
			out := tlsRun(t, c.input, "openssl", "s_client", "-connect", addr(c.port), "-starttls", c.proto,
				"-CAfile", ca, "-verify_return_error", "-servername", "mx.test", "-quiet")
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Fatalf("lacks %q:\n%s", w, out)
				}
			}
		})
	}

	curl := func(t *testing.T, args ...string) string {
		return tlsRun(t, "", "curl", append([]string{"-sS", "--max-time", "30", "--cacert", ca}, args...)...)
	}
	t.Run("curl-imaps", func(t *testing.T) {
		out := curl(t, url("imaps", r.imaps, "INBOX;UID=1"))
		if !strings.Contains(out, "Subject: e2e message one") {
			t.Fatalf("curl imaps:\n%s", out)
		}
	})
	t.Run("curl-imap-ssl-reqd", func(t *testing.T) {
		out := curl(t, "--ssl-reqd", url("imap", r.imap, "INBOX;UID=2"))
		if !strings.Contains(out, "Subject: e2e message two") {
			t.Fatalf("curl imap --ssl-reqd:\n%s", out)
		}
	})
	t.Run("curl-pop3s", func(t *testing.T) {
		out := curl(t, url("pop3s", r.pop3s, "1"))
		if !strings.Contains(out, "Subject: e2e message one") {
			t.Fatalf("curl pop3s:\n%s", out)
		}
	})
	t.Run("curl-pop3-ssl-reqd", func(t *testing.T) {
		out := curl(t, "--ssl-reqd", url("pop3", r.pop3, "2"))
		if !strings.Contains(out, "Subject: e2e message two") {
			t.Fatalf("curl pop3 --ssl-reqd:\n%s", out)
		}
	})
	mail := "From: a@example.org\r\nTo: b@example.org\r\nSubject: via curl\r\n\r\nhello over TLS\r\n"
	t.Run("curl-smtps", func(t *testing.T) {
		tlsRunCurlSMTP(t, mail, ca, fmt.Sprintf("smtps://127.0.0.1:%d", r.smtps))
	})
	t.Run("curl-smtp-ssl-reqd", func(t *testing.T) {
		tlsRunCurlSMTP(t, mail, ca, fmt.Sprintf("smtp://127.0.0.1:%d", r.smtp), "--ssl-reqd")
	})

	py := func(t *testing.T, mode string, port int) string {
		return tlsRun(t, "", "python3", "testdata/tls_clients.py", mode, "127.0.0.1", fmt.Sprint(port), ca, dovecotUser, dovecotPass)
	}
	t.Run("python-imap4-ssl", func(t *testing.T) {
		wantLines(t, py(t, "imap-ssl", r.imaps), "login: OK", "select: OK 2", "subject: e2e message one")
	})
	t.Run("python-imap4-starttls", func(t *testing.T) {
		wantLines(t, py(t, "imap-starttls", r.imap), "starttls: OK", "login: OK", "select: OK 2")
	})
	t.Run("python-pop3-ssl", func(t *testing.T) {
		wantLines(t, py(t, "pop3-ssl", r.pop3s), "login: +OK", "stat: 2")
	})
	t.Run("python-pop3-stls", func(t *testing.T) {
		wantLines(t, py(t, "pop3-stls", r.pop3), "stls: +OK", "login: +OK", "stat: 2")
	})
	t.Run("python-smtp-ssl", func(t *testing.T) {
		wantLines(t, py(t, "smtp-ssl", r.smtps), "login: 235", "sent: {}")
	})
	t.Run("python-smtp-starttls", func(t *testing.T) {
		wantLines(t, py(t, "smtp-starttls", r.smtp), "starttls: 220", "login: 235", "sent: {}")
	})

	swaks := func(t *testing.T, port int, mode string) string {
		return tlsRun(t, "", "swaks", "--server", addr(port), mode, "--tls-verify", "--tls-ca-path", ca, "--tls-sni", "mx.test",
			"--auth", "PLAIN", "--auth-user", "swaks", "--auth-password", "pw", "--from", "s@example.org", "--to", "r@example.org",
			"--ehlo", "swaks.example", "--timeout", "20")
	}
	t.Run("swaks-tls", func(t *testing.T) {
		out := swaks(t, r.smtp, "--tls")
		for _, w := range []string{"<-  220 2.0.0 Start TLS", "<~  235 2.0.0 OK", "<~  250 2.0.0 Ok: queued"} {
			if !strings.Contains(out, w) {
				t.Fatalf("swaks --tls lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("swaks-tls-on-connect", func(t *testing.T) {
		out := swaks(t, r.smtps, "--tls-on-connect")
		if !strings.Contains(out, "<~  235 2.0.0 OK") || !strings.Contains(out, "<~  250 2.0.0 Ok: queued") {
			t.Fatalf("swaks --tls-on-connect:\n%s", out)
		}
	})
}

func tlsRunCurlSMTP(t *testing.T, mail, ca, url string, extra ...string) {
	t.Helper()
	args := append([]string{"-sS", "--max-time", "30", "--cacert", ca, "--mail-from", "a@example.org", "--mail-rcpt", "b@example.org",
		"--user", "curl:pw", "--login-options", "AUTH=PLAIN", "-T", "-", url}, extra...)
	tlsRun(t, mail, "curl", args...)
}

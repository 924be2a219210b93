package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPostfixThroughProxy submits mail through mailproxy to a real Postfix
// with swaks, Python's smtplib and curl, each client bound to its own
// loopback address. mailproxy itself connects from 127.0.0.1, so the
// client address in Postfix's Received header can only have come from
// XCLIENT ADDR=, and "Authenticated sender" from XCLIENT LOGIN=.
func TestPostfixThroughProxy(t *testing.T) {
	t.Parallel()
	pf := startPostfix(t)
	auth := startAuth(t, func(r *authReq) string {
		if r.get("Auth-Method") == "none" || (r.get("Auth-User") == "submitter" && r.get("Auth-Pass") == "s3cret") {
			return authOK(pf.Port)
		}
		return authFail("Invalid login or password", 0)
	})
	sub := freePort(t)
	startProxy(t, pop3ServerConf(t, "smtp", auth.Addr, sub, `smtp_capabilities PIPELINING "SIZE 10485760" 8BITMIME;`))
	mx := freePort(t)
	startProxy(t, pop3ServerConf(t, "smtp", auth.Addr, mx, "smtp_auth none; smtp_capabilities PIPELINING 8BITMIME;"))

	swaks := func(port int, src, helo, to string, args ...string) string {
		t.Helper()
		base := []string{"--server", fmt.Sprintf("127.0.0.1:%d", port), "--local-interface", src,
			"--ehlo", helo, "--from", "sender@example.org", "--to", to,
			"--header", "Subject: e2e via " + to, "--timeout", "20"}
		return runTool(t, "swaks", append(base, args...)...)
	}

	t.Run("swaks-auth-plain", func(t *testing.T) {
		rcpt := "swaks-plain@backend.test"
		out := swaks(sub, "127.0.0.2", "swaks.client", rcpt, "--auth", "PLAIN", "--auth-user", "submitter", "--auth-password", "s3cret")
		if !strings.Contains(out, "<-  235 2.0.0 OK") || !strings.Contains(out, "queued as") {
			t.Fatalf("swaks:\n%s", out)
		}
		postfixWant(t, pf.message(t, rcpt), "Received: from swaks.client (unknown [127.0.0.2])",
			"(Authenticated sender: submitter)", "Subject: e2e via "+rcpt)
	})
	t.Run("swaks-auth-login", func(t *testing.T) {
		rcpt := "swaks-login@backend.test"
		out := swaks(sub, "127.0.0.3", "login.client", rcpt, "--auth", "LOGIN", "--auth-user", "submitter", "--auth-password", "s3cret")
		if !strings.Contains(out, "<-  235 2.0.0 OK") {
			t.Fatalf("swaks:\n%s", out)
		}
		postfixWant(t, pf.message(t, rcpt), "Received: from login.client (unknown [127.0.0.3])",
			"(Authenticated sender: submitter)")
	})
	t.Run("swaks-wrong-password", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, needTool(t, "swaks"), "--server", fmt.Sprintf("127.0.0.1:%d", sub),
			"--from", "sender@example.org", "--to", "nobody@backend.test", "--timeout", "20",
			"--auth", "PLAIN", "--auth-user", "submitter", "--auth-password", "wrong").CombinedOutput()
		if !strings.Contains(string(out), "<** 535 5.7.0 Invalid login or password") {
			t.Fatalf("swaks:\n%s", out)
		}
	})
	t.Run("smtplib", func(t *testing.T) {
		rcpt := "smtplib@backend.test"
		out := runTool(t, "python3", "-c", smtpPyClient, "127.0.0.1", strconv.Itoa(sub), "127.0.0.4",
			"submitter", "s3cret", "sender@example.org", rcpt, "e2e via smtplib")
		wantLines(t, out, "ehlo: 250", "login: 235", "refused: {}", "quit: 221")
		postfixWant(t, pf.message(t, rcpt), "Received: from smtplib.client (unknown [127.0.0.4])",
			"(Authenticated sender: submitter)", "sent by smtplib")
	})
	t.Run("curl", func(t *testing.T) {
		rcpt := "curl@backend.test"
		body := filepath.Join(t.TempDir(), "mail.txt")
		mustWrite(t, body, "From: sender@example.org\r\nTo: "+rcpt+"\r\nSubject: e2e via curl\r\n\r\nsent by curl\r\n", 0o644)
		runTool(t, "curl", "-sS", "--max-time", "30", "--interface", "127.0.0.5",
			fmt.Sprintf("smtp://127.0.0.1:%d/curl.client", sub), "-u", "submitter:s3cret",
			"--mail-from", "sender@example.org", "--mail-rcpt", rcpt, "--upload-file", body)
		postfixWant(t, pf.message(t, rcpt), "Received: from curl.client (unknown [127.0.0.5])",
			"(Authenticated sender: submitter)", "sent by curl")
	})
	t.Run("swaks-none-path", func(t *testing.T) {
		// Inbound MX style: no AUTH; MAIL and RCPT are replayed after XCLIENT.
		rcpt := "mx-inbound@backend.test"
		out := swaks(mx, "127.0.0.6", "mx.client", rcpt)
		if !strings.Contains(out, "queued as") {
			t.Fatalf("swaks:\n%s", out)
		}
		msg := pf.message(t, rcpt)
		postfixWant(t, msg, "Received: from mx.client (unknown [127.0.0.6])", "sender: sender@example.org")
		if strings.Contains(msg, "Authenticated sender") {
			t.Fatalf("none path message claims an authenticated sender:\n%s", msg)
		}
		var none *authReq
		for _, r := range auth.requests() {
			if r.get("Auth-Method") == "none" {
				none = r
			}
		}
		if none == nil {
			t.Fatal("no Auth-Method: none request")
		}
		checkAuthReq(t, none, "GET /auth HTTP/1.0", "Host: 127.0.0.1", "Auth-Method: none", "Auth-User: ", "Auth-Pass: ",
			"Auth-Protocol: smtp", "Auth-Login-Attempt: 1", "Client-IP: 127.0.0.6", "Client-Host: [UNAVAILABLE]",
			"Auth-SMTP-Helo: mx.client", "Auth-SMTP-From: MAIL FROM:<sender@example.org>", "Auth-SMTP-To: RCPT TO:<"+rcpt+">")
	})
}

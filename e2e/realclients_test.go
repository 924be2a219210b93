package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestDovecotDirect checks the Dovecot helper and the Python client without
// mailproxy, so a failure below points at the right piece.
func TestDovecotDirect(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	out := imapPy(t, d.IMAPPort, dovecotUser, dovecotPass)
	wantLines(t, out, "select: OK 2", "subject: e2e message one", "logout: BYE")
}

func TestRealClientsThroughProxy(t *testing.T) {
	t.Parallel()
	_, auth, port := dovecotRig(t)

	t.Run("imaplib", func(t *testing.T) {
		out := imapPy(t, port, dovecotUser, dovecotPass)
		wantLines(t, out, "greeting: * OK IMAP4 ready", "select: OK 2", "subject: e2e message one", "logout: BYE")
		if !strings.Contains(out, "login: OK ") {
			t.Fatalf("login not OK:\n%s", out)
		}
	})

	t.Run("imaplib-wrong-password", func(t *testing.T) {
		out := imapPy(t, port, dovecotUser, "wrong")
		wantLines(t, out, "login-error: Invalid login or password")
	})

	t.Run("curl-fetch", func(t *testing.T) {
		out := runTool(t, "curl", "-sS", "--max-time", "30",
			fmt.Sprintf("imap://%s:%s@127.0.0.1:%d/INBOX;UID=1", dovecotUser, dovecotPass, port))
		if !strings.Contains(out, "body of message one") || !strings.Contains(out, "Subject: e2e message one") {
			t.Fatalf("curl did not get message 1:\n%s", out)
		}
	})

	for _, r := range auth.requests() {
		if r.get("Auth-Protocol") != "imap" || r.get("Client-IP") != "127.0.0.1" {
			t.Errorf("odd auth request:\n%s", r.Raw)
		}
	}
}

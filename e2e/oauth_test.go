package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// OAUTHBEARER and XOAUTH2 (issue 15, nginx PR #1590) through the built
// binary with the clients users have: curl --oauth2-bearer (IMAP, POP3,
// SMTP) and Python imaplib's authenticate, in front of a real Dovecot
// (IMAP, POP3) and the scripted SMTP backend. The auth server takes the
// token as Auth-Pass and gives a master password back.

const (
	oauthUser    = "tester@example.com"
	oauthToken   = "tok-e2e-0123456789"
	oauthSASLErr = "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0="
)

func TestOAuthRealClients(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	sbe := startSMTPBackend(t)
	bigToken := strings.Repeat("Z", 6<<10)
	auth := startAuth(t, func(r *authReq) string {
		m := r.get("Auth-Method")
		if m != "oauthbearer" && m != "xoauth2" {
			return authFail("not an oauth login", 0)
		}
		port := map[string]int{"imap": d.IMAPPort, "pop3": d.POP3Port, "smtp": sbe.Port}[r.get("Auth-Protocol")]
		switch r.get("Auth-Pass") {
		case oauthToken, bigToken:
			if r.get("Auth-User") != oauthUser {
				return authFail("wrong user "+r.get("Auth-User"), 0)
			}
			return authOK(port) + "Auth-User: " + dovecotUser + "\r\nAuth-Pass: " + dovecotPass + "\r\n"
		}
		return "Auth-Status: invalid token\r\nAuth-Error-SASL: " + oauthSASLErr + "\r\n"
	})
	imap, pop3, smtp := freePort(t), freePort(t), freePort(t)
	dir := t.TempDir()
	p := startProxy(t, fmt.Sprintf(`worker_processes 2;
error_log %s/error.log debug;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
    xclient off;
    server { listen 127.0.0.1:%d; protocol imap; imap_auth plain oauthbearer xoauth2; }
    server { listen 127.0.0.1:%d; protocol pop3; pop3_auth plain oauthbearer xoauth2; }
    server { listen 127.0.0.1:%d; protocol smtp; smtp_auth plain oauthbearer xoauth2; }
}
`, dir, auth.Addr, imap, pop3, smtp))
	for _, port := range []int{imap, pop3, smtp} {
		p.waitPort(t, fmt.Sprintf("127.0.0.1:%d", port))
	}

	curl := func(tok string, args ...string) (string, error) {
		full := append([]string{"-sS", "--max-time", "30", "--user", oauthUser + ":", "--oauth2-bearer", tok}, args...)
		out, err := exec.Command(needTool(t, "curl"), full...).CombinedOutput()
		return string(out), err
	}
	t.Run("curl-imap", func(t *testing.T) {
		out, err := curl(oauthToken, fmt.Sprintf("imap://127.0.0.1:%d/INBOX;UID=1", imap))
		if err != nil || !strings.Contains(out, "Subject: e2e message one") {
			t.Fatalf("curl imap with OAUTHBEARER: %v\n%s", err, out)
		}
	})
	t.Run("curl-imap-6KB-token", func(t *testing.T) {
		out, err := curl(bigToken, fmt.Sprintf("imap://127.0.0.1:%d/INBOX;UID=1", imap))
		if err != nil || !strings.Contains(out, "Subject: e2e message one") {
			t.Fatalf("curl imap with a 6 KB token: %v\n%s", err, out)
		}
	})
	t.Run("curl-pop3", func(t *testing.T) {
		out, err := curl(oauthToken, fmt.Sprintf("pop3://127.0.0.1:%d/1", pop3))
		if err != nil || !strings.Contains(out, "Subject: e2e message one") {
			t.Fatalf("curl pop3 with OAUTHBEARER: %v\n%s", err, out)
		}
	})
	t.Run("curl-smtp", func(t *testing.T) {
		mail := t.TempDir() + "/m.eml"
		if err := os.WriteFile(mail, []byte("Subject: oauth\r\n\r\nhello\r\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := curl(oauthToken, fmt.Sprintf("smtp://127.0.0.1:%d", smtp), "--mail-from", "a@example.com",
			"--mail-rcpt", "b@example.com", "--upload-file", mail)
		if err != nil {
			t.Fatalf("curl smtp with OAUTHBEARER: %v\n%s", err, out)
		}
	})
	t.Run("curl-imap-bad-token", func(t *testing.T) {
		// curl answers the error challenge with its dummy response and
		// reports the login denied (exit 67).
		out, err := curl("wrong-token", fmt.Sprintf("imap://127.0.0.1:%d/INBOX;UID=1", imap))
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 67 {
			t.Fatalf("curl with a bad token: %v (want exit 67, login denied)\n%s", err, out)
		}
	})
	t.Run("imaplib-xoauth2", func(t *testing.T) {
		out := runTool(t, "python3", "-c", `
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", `+fmt.Sprint(imap)+`)
typ, _ = m.authenticate("XOAUTH2", lambda c: b"user=`+oauthUser+`\x01auth=Bearer `+oauthToken+`\x01\x01")
print("auth:", typ)
typ, data = m.select("INBOX")
print("select:", typ, data[0].decode())
m.logout()
`)
		wantLines(t, out, "auth: OK", "select: OK 2")
	})

	// The auth server saw the tokens; no log line holds one.
	n := 0
	for _, r := range auth.requests() {
		if r.get("Auth-Pass") == oauthToken {
			n++
		}
	}
	if n < 4 {
		t.Fatalf("%d auth_http requests carried the token as Auth-Pass, want 4 or more", n)
	}
	logs := p.logs()
	data, _ := os.ReadFile(dir + "/error.log")
	for _, text := range []string{logs, string(data)} {
		if strings.Contains(text, oauthToken) || strings.Contains(text, bigToken[:64]) {
			t.Fatalf("a token reached a log:\n%s", text)
		}
	}
}

package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// TestPOP3RealClientsDovecot puts mailproxy in front of a real Dovecot
// POP3 server and drives it with Python's poplib and curl. The auth server
// checks the password (or the APOP digest against the session's salt) and
// sends Auth-Pass, which the backend login needs for APOP.
func TestPOP3RealClientsDovecot(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	auth := startAuth(t, func(r *authReq) string {
		ok := r.get("Auth-User") == dovecotUser
		switch r.get("Auth-Method") {
		case "plain":
			ok = ok && r.get("Auth-Pass") == dovecotPass
		case "apop":
			sum := md5.Sum([]byte(r.get("Auth-Salt") + dovecotPass))
			ok = ok && r.get("Auth-Pass") == hex.EncodeToString(sum[:])
		default:
			ok = false
		}
		if !ok {
			return authFail("Invalid login or password", 0)
		}
		return authOK(d.POP3Port) + "Auth-Pass: " + dovecotPass + "\r\n"
	})
	port := freePort(t)
	startProxy(t, pop3ServerConf(t, "pop3", auth.Addr, port, "pop3_auth plain apop;"))

	for _, mode := range []string{"user", "apop", "plain"} {
		t.Run("poplib-"+mode, func(t *testing.T) {
			out := pop3Py(t, port, dovecotUser, dovecotPass, mode)
			wantLines(t, out, "capa: SASL TOP UIDL USER", "stat: 2", "subject: e2e message one")
			if !strings.HasPrefix(out, "greeting: +OK POP3 ready <") {
				t.Fatalf("greeting is not nginx's salted one:\n%s", out)
			}
			// The client sees Dovecot's own answers once logged in.
			if !strings.Contains(out, "login: +OK Logged in.") || !strings.Contains(out, "quit: +OK Logging out.") {
				t.Fatalf("not Dovecot's replies:\n%s", out)
			}
		})
	}
	t.Run("poplib-wrong-password", func(t *testing.T) {
		out := pop3Py(t, port, dovecotUser, "wrong", "user")
		wantLines(t, out, "login-error: -ERR Invalid login or password")
	})
	t.Run("curl-retr", func(t *testing.T) {
		out := runTool(t, "curl", "-sS", "--max-time", "30",
			fmt.Sprintf("pop3://%s:%s@127.0.0.1:%d/2", dovecotUser, dovecotPass, port))
		if !strings.Contains(out, "Subject: e2e message two") || !strings.Contains(out, "body of message two") {
			t.Fatalf("curl did not get message 2:\n%s", out)
		}
	})
	t.Run("curl-list-sasl-ir", func(t *testing.T) {
		out := runTool(t, "curl", "-sS", "--max-time", "30", "--sasl-ir", "--login-options", "AUTH=PLAIN",
			fmt.Sprintf("pop3://%s:%s@127.0.0.1:%d/", dovecotUser, dovecotPass, port))
		if !hasLine(out, "1 "+fmt.Sprint(len(dovecotMessages[0]))) {
			t.Fatalf("curl LIST output:\n%s", out)
		}
	})
	for _, r := range auth.requests() {
		if r.get("Auth-Protocol") != "pop3" || r.get("Client-IP") != "127.0.0.1" {
			t.Errorf("odd auth request:\n%s", r.Raw)
		}
	}
}

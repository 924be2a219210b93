package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// needTool returns the path of a client program scripts/test.sh installs.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run scripts/test.sh (it installs the test clients)", name)
	}
	return p
}

// runTool runs a client program with a 60 s bound and returns its output.
func runTool(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, needTool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// imapPy runs testdata/imap_client.py against port.
func imapPy(t testing.TB, port int, user, pass string) string {
	t.Helper()
	return runTool(t, "python3", "testdata/imap_client.py", "127.0.0.1", fmt.Sprint(port), user, pass)
}

func wantLines(t testing.TB, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !hasLine(out, w) {
			t.Fatalf("output lacks line %q:\n%s", w, out)
		}
	}
}

// dovecotRig puts mailproxy in front of a private Dovecot. The auth server
// accepts tester/secret and refuses anything else with Auth-Wait: 1.
func dovecotRig(t testing.TB) (*dovecot, *authServer, int) {
	t.Helper()
	d := startDovecot(t)
	auth := startAuth(t, func(r *authReq) string {
		if r.get("Auth-User") == dovecotUser && r.get("Auth-Pass") == dovecotPass {
			return authOK(d.IMAPPort)
		}
		return authFail("Invalid login or password", 1)
	})
	port := freePort(t)
	startProxy(t, imapConf(t, auth.Addr, port, ""))
	return d, auth, port
}

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

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postfix is a private Postfix instance rendered from scripts/postfix/:
// smtpd on a loopback port, XCLIENT allowed from 127.0.0.0/8, every
// accepted message held in its queue (nothing is delivered).
type postfix struct {
	Port int
	dir  string
}

func startPostfix(t testing.TB) *postfix {
	t.Helper()
	return startPostfixWith(t, nil)
}

// startPostfixWith is startPostfix with more main.cf: each of mainExtra
// names a template in scripts/postfix appended to main.cf.in, all rendered
// with the usual replacements plus vars (pairs: "@NAME@", value).
func startPostfixWith(t testing.TB, mainExtra []string, vars ...string) *postfix {
	t.Helper()
	bin := needDaemon(t, "postfix", "postfix and swaks")
	dir := daemonDir(t, "postfix")
	pf := &postfix{Port: freePort(t), dir: dir}
	r := strings.NewReplacer(append([]string{"@DIR@", dir, "@SMTP_PORT@", strconv.Itoa(pf.Port)}, vars...)...)
	for out, names := range map[string][]string{
		"main.cf":   append([]string{"main.cf.in"}, mainExtra...),
		"master.cf": {"master.cf.in"},
	} {
		var text strings.Builder
		for _, name := range names {
			tmpl, err := os.ReadFile("../scripts/postfix/" + name)
			if err != nil {
				t.Fatal(err)
			}
			text.WriteString(r.Replace(string(tmpl)))
			text.WriteString("\n")
		}
		mustWrite(t, filepath.Join(dir, out), text.String(), 0o644)
	}
	// The queue directory belongs to root, the data directory to the mail
	// owner; `postfix start-fg` creates the queue's subdirectories.
	if err := os.Mkdir(filepath.Join(dir, "queue"), 0o755); err != nil {
		t.Fatal(err)
	}
	owner, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("no user postfix: %v (run scripts/test.sh)", err)
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, uid, gid); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "postfix", "", bin, "-c", dir, "start-fg")
	p.errorLog = filepath.Join(dir, "maillog")
	// The master may leave the process group of the command that started
	// it: stop the instance by its own pid file too (runs before p.stop).
	t.Cleanup(func() { _, _ = postfixRun(dir, bin, "-c", dir, "stop") })
	p.waitPort(t, fmt.Sprintf("127.0.0.1:%d", pf.Port))
	return pf
}

// postfixRun runs a Postfix command with a 30 s bound.
func postfixRun(dir, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// postfixQueued is one entry of `postqueue -j`.
type postfixQueued struct {
	Queue      string `json:"queue_name"`
	ID         string `json:"queue_id"`
	Sender     string `json:"sender"`
	Recipients []struct {
		Address string `json:"address"`
	} `json:"recipients"`
}

// message returns the queued message (envelope, headers, body as postcat
// prints them) whose recipient is rcpt, failing when there is none. A
// message is in the queue before Postfix answers the final "." with 250.
func (pf *postfix) message(t testing.TB, rcpt string) string {
	t.Helper()
	out, err := postfixRun(pf.dir, "postqueue", "-c", pf.dir, "-j")
	if err != nil {
		t.Fatalf("postqueue -j: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // "Mail system is down" style warnings
		}
		var q postfixQueued
		if err := json.Unmarshal([]byte(line), &q); err != nil {
			t.Fatalf("postqueue -j line %q: %v", line, err)
		}
		for _, r := range q.Recipients {
			if r.Address == rcpt {
				msg, err := postfixRun(pf.dir, "postcat", "-c", pf.dir, "-ehbq", q.ID)
				if err != nil {
					t.Fatalf("postcat %s: %v\n%s", q.ID, err, msg)
				}
				if q.Queue != "hold" {
					t.Fatalf("message %s is in queue %q, want hold", q.ID, q.Queue)
				}
				return msg
			}
		}
	}
	t.Fatalf("no queued message for %s in:\n%s", rcpt, out)
	return ""
}

// postfixWant checks that msg has every line starting with one of want
// (header continuation lines are separate lines in postcat's output).
func postfixWant(t testing.TB, msg string, want ...string) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, l := range strings.Split(msg, "\n") {
			if strings.Contains(l, w) {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("queued message lacks %q:\n%s", w, msg)
		}
	}
}

// smtpPyClient is a Python smtplib client: argv host port source-ip user
// pass from to subject; user "" skips AUTH. It prints the server's replies.
const smtpPyClient = `
import smtplib, sys
host, port, src, user, pw, frm, to, subj = sys.argv[1:9]
s = smtplib.SMTP(host, int(port), local_hostname="smtplib.client", source_address=(src, 0), timeout=20)
print("ehlo:", s.ehlo()[0])
if user:
    print("login:", s.login(user, pw)[0])
msg = "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nsent by smtplib\r\n" % (frm, to, subj)
print("refused:", s.sendmail(frm, [to], msg))
print("quit:", s.quit()[0])
`

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

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

// Harness: private Postfix instances (plain, and checking passwords through
// Dovecot SASL) that receive what mailproxy relays, and reading their queue.

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

// startPostfixSASL runs startPostfix's Postfix plus
// scripts/postfix/main-sasl.cf.in: SMTP AUTH through the Dovecot auth
// socket sock.
func startPostfixSASL(t testing.TB, sock string) *postfix {
	t.Helper()
	return startPostfixWith(t, []string{"main-sasl.cf.in"}, "@SASL_PATH@", sock)
}

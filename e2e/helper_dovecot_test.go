package e2e

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// dovecot is a private Dovecot instance rendered from
// scripts/dovecot/dovecot.conf.in, with user "tester" / "secret" and a
// seeded INBOX of dovecotMessages.
type dovecot struct {
	IMAPPort, POP3Port int
	dir                string
	p                  *proc
}

const dovecotUser, dovecotPass = "tester", "secret"

// dovecotMessages seed the test user's INBOX (Maildir, in this order).
var dovecotMessages = []string{
	"From: alice@example.org\r\nTo: tester@example.org\r\nSubject: e2e message one\r\n\r\nbody of message one\r\n",
	"From: bob@example.org\r\nTo: tester@example.org\r\nSubject: e2e message two\r\n\r\nbody of message two\r\n",
}

func needDovecot(t testing.TB) string {
	t.Helper()
	return needDaemon(t, "dovecot", "dovecot-imapd and dovecot-pop3d")
}

func startDovecot(t testing.TB) *dovecot {
	t.Helper()
	return startDovecotWith(t)
}

// startDovecotWith is startDovecot with more configuration: each of extra
// names a template in scripts/dovecot appended to dovecot.conf.in and
// rendered with the same replacements.
func startDovecotWith(t testing.TB, extra ...string) *dovecot {
	t.Helper()
	bin := needDovecot(t)
	dir := daemonDir(t, "dovecot")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no user nobody for the mailbox: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	d := &dovecot{IMAPPort: freePort(t), POP3Port: freePort(t), dir: dir}

	var tmpl strings.Builder
	for _, name := range append([]string{"dovecot.conf.in"}, extra...) {
		b, err := os.ReadFile("../scripts/dovecot/" + name)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.Write(b)
		tmpl.WriteString("\n")
	}
	conf := strings.NewReplacer("@DIR@", dir, "@IMAP_PORT@", strconv.Itoa(d.IMAPPort),
		"@POP3_PORT@", strconv.Itoa(d.POP3Port), "@UID@", nobody.Uid, "@GID@", nobody.Gid).Replace(tmpl.String())
	confPath := filepath.Join(dir, "dovecot.conf")
	mustWrite(t, confPath, conf, 0o644)
	users, err := os.ReadFile("../scripts/dovecot/users")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "users"), string(users), 0o644)

	md := filepath.Join(dir, "mail", dovecotUser, "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range dovecotMessages {
		name := fmt.Sprintf("%d.M%dP1.e2e:2,S", 1700000000+i, i)
		mustWrite(t, filepath.Join(md, "cur", name), m, 0o600)
	}
	if err := filepath.Walk(filepath.Join(dir, "mail"), func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}

	p := startProc(t, "dovecot", "", bin, "-F", "-c", confPath)
	p.errorLog = filepath.Join(dir, "dovecot.log")
	p.waitPort(t, fmt.Sprintf("127.0.0.1:%d", d.IMAPPort))
	p.waitPort(t, fmt.Sprintf("127.0.0.1:%d", d.POP3Port))
	d.p = p
	return d
}

func mustWrite(t testing.TB, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

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

// startDovecotAuth runs a private Dovecot (startDovecot's) whose auth
// service also listens on a client socket for Postfix
// (scripts/dovecot/auth-postfix.conf.in), and returns the socket's path.
func startDovecotAuth(t testing.TB) string {
	t.Helper()
	d := startDovecotWith(t, "auth-postfix.conf.in")
	sock := filepath.Join(d.dir, "run", "auth-postfix")
	// The master binds the IMAP port and the auth socket one service
	// after the other: wait for the socket too.
	d.p.waitListen(t, "unix", sock)
	return sock
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

type tlsDovecot struct {
	dovecot
	IMAPSPort, POP3SPort int
	ca                   *tlsCA
}

// startTLSDovecot starts Dovecot with a certificate for backend.test and
// 127.0.0.1 issued by its own CA.
func startTLSDovecot(t *testing.T) *tlsDovecot {
	t.Helper()
	bin := needDovecot(t)
	dir := daemonDir(t, "dovecot-tls")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	d := &tlsDovecot{dovecot: dovecot{IMAPPort: freePort(t), POP3Port: freePort(t), dir: dir},
		IMAPSPort: freePort(t), POP3SPort: freePort(t), ca: newTLSCA(t, "backend CA")}
	cert, key, _ := d.ca.issue(t, tlsLeafOpts{cn: "backend.test", dns: []string{"backend.test"}})
	for _, f := range []string{cert, key} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(dir, filepath.Base(f)), string(b), 0o644)
	}
	tmpl, err := os.ReadFile("../scripts/dovecot/dovecot.conf.in")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("@DIR@", dir, "@IMAP_PORT@", strconv.Itoa(d.IMAPPort),
		"@POP3_PORT@", strconv.Itoa(d.POP3Port), "@UID@", nobody.Uid, "@GID@", nobody.Gid).Replace(string(tmpl))
	for old, repl := range map[string]string{
		"ssl = no": fmt.Sprintf("ssl = yes\nssl_cert = <%s\nssl_key = <%s",
			filepath.Join(dir, filepath.Base(cert)), filepath.Join(dir, filepath.Base(key))),
		"inet_listener imaps {\n    port = 0": fmt.Sprintf("inet_listener imaps {\n    address = 127.0.0.1\n    port = %d", d.IMAPSPort),
		"inet_listener pop3s {\n    port = 0": fmt.Sprintf("inet_listener pop3s {\n    address = 127.0.0.1\n    port = %d", d.POP3SPort),
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("the Dovecot template changed: no %q in scripts/dovecot/dovecot.conf.in", old)
		}
		conf = strings.Replace(conf, old, repl, 1)
	}
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
		mustWrite(t, filepath.Join(md, "cur", fmt.Sprintf("%d.M%dP1.e2e:2,S", 1700000000+i, i)), m, 0o600)
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
	for _, port := range []int{d.IMAPPort, d.POP3Port, d.IMAPSPort, d.POP3SPort} {
		p.waitPort(t, fmt.Sprintf("127.0.0.1:%d", port))
	}
	return d
}

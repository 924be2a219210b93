package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The Debian package as an operator meets it (issue 16 D1, D2): build it
// with scripts/build-deb.sh, dpkg -i it on this machine, check the
// installed config, unit and logrotate file with their own tools, run the
// installed binary as the mailproxy user on the installed config (ports
// moved to loopback), log in through it, rotate its log, then dpkg --purge
// and check that only what Debian policy keeps (the system user) is left.
//
// This touches the machine's real /etc, /usr, /var/log: it runs only as
// root, refuses to run where a mailproxy package is already installed, and
// purges the package at the end whatever happened.

const debPkgFiles = `/usr/sbin/mailproxy
/lib/systemd/system/mailproxy.service
/etc/mailproxy/mail.conf
/etc/logrotate.d/mailproxy
/usr/share/man/man8/mailproxy.8.gz
/usr/share/doc/mailproxy/README.md
/usr/share/doc/mailproxy/copyright
/usr/share/doc/mailproxy/changelog.gz
/etc/fail2ban/filter.d/mailproxy.conf
/usr/share/doc/mailproxy/examples/fail2ban-jail-mailproxy.conf`

func TestOpsDebPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installs a Debian package: needs root (CI runs as root)")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: not a Debian system", tool)
		}
	}
	if debInstalled(t) {
		t.Skip("a mailproxy package is installed on this machine: the test would replace and purge it")
	}
	for _, dir := range []string{"/etc/mailproxy", "/var/log/mailproxy", "/run/mailproxy"} {
		if _, err := os.Stat(dir); err == nil {
			t.Skipf("%s exists without the package (a source install?): the test would remove it", dir)
		}
	}
	_, err := user.Lookup("mailproxy")
	userBefore := err == nil

	out := t.TempDir()
	build := debRun(t, 5*time.Minute, "bash", "../scripts/build-deb.sh", out)
	deb := strings.TrimSpace(lastLine(build))
	if !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("build-deb.sh did not print the .deb path:\n%s", build)
	}
	version := strings.TrimSpace(debRun(t, time.Minute, "dpkg-deb", "-f", deb, "Version"))
	if !regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`).MatchString(version) {
		t.Fatalf("package version %q is not a native Debian version", version)
	}

	// Registered before the install, so that it runs on any failure; the
	// processes started below are stopped first (cleanups run last-in,
	// first-out).
	t.Cleanup(func() {
		if debInstalled(t) {
			if out, err := exec.Command("dpkg", "--purge", "mailproxy").CombinedOutput(); err != nil {
				t.Errorf("cleanup: dpkg --purge mailproxy: %v\n%s", err, out)
			}
		}
		os.RemoveAll("/run/mailproxy") // made below, as systemd's RuntimeDirectory= would
		if !userBefore {
			// Policy keeps the user on purge (checked below); the test
			// machine gets back the state it had.
			_ = exec.Command("deluser", "--system", "--quiet", "mailproxy").Run()
			_ = exec.Command("delgroup", "--system", "--quiet", "mailproxy").Run()
		}
	})
	debRun(t, 2*time.Minute, "dpkg", "-i", deb)

	// What dpkg says it installed, and how.
	listed := debRun(t, time.Minute, "dpkg-query", "-L", "mailproxy")
	for _, f := range strings.Split(debPkgFiles, "\n") {
		if !hasLine(listed, f) {
			t.Errorf("dpkg -L mailproxy lacks %s", f)
		}
	}
	conffiles := debRun(t, time.Minute, "dpkg-query", "-W", "-f=${Conffiles}", "mailproxy")
	for _, f := range []string{"/etc/mailproxy/mail.conf", "/etc/logrotate.d/mailproxy", "/etc/fail2ban/filter.d/mailproxy.conf"} {
		if !strings.Contains(conffiles, " "+f+" ") {
			t.Errorf("%s is not a conffile; conffiles:\n%s", f, conffiles)
		}
	}
	u, err := user.Lookup("mailproxy")
	if err != nil {
		t.Fatalf("postinst made no mailproxy user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid >= 1000 {
		t.Errorf("mailproxy is uid %d, not a system user", uid)
	}
	debOwner(t, "/var/log/mailproxy", uid, -1, 0o750|os.ModeDir)
	debOwner(t, "/etc/mailproxy/mail.conf", 0, gid, 0o640) // it holds the auth_http key
	if v := debRun(t, time.Minute, "/usr/sbin/mailproxy", "-v"); !hasLine(v, "mailproxy version: mailproxy/"+version) {
		t.Errorf("mailproxy -v does not name the package version %s:\n%s", version, v)
	}
	if man, err := exec.LookPath("man"); err == nil {
		if page := debRun(t, time.Minute, man, "-P", "cat", "8", "mailproxy"); !strings.Contains(page, "SIGNALS") {
			t.Errorf("man 8 mailproxy has no SIGNALS section:\n%s", page)
		}
	}

	// The unit as installed, checked by systemd's own verifier (it also
	// checks that ExecStart's binary and the man page exist).
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		if out := debRun(t, time.Minute, sa, "verify", "/lib/systemd/system/mailproxy.service"); strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify mailproxy.service:\n%s", out)
		}
	} else {
		t.Log("systemd-analyze not installed: unit not verified")
	}
	unit, _ := os.ReadFile("/lib/systemd/system/mailproxy.service")
	for _, l := range []string{
		"ExecStartPre=/usr/sbin/mailproxy -t -q -c /etc/mailproxy/mail.conf",
		"ExecStart=/usr/sbin/mailproxy -c /etc/mailproxy/mail.conf",
		"User=mailproxy",
	} {
		if !hasLine(string(unit), l) {
			t.Errorf("installed unit lacks %q", l)
		}
	}

	// mailproxy -t as installed, as root: the operator's first command.
	// It opens error.log; the mailproxy user must still be able to append
	// to it afterwards (the start below).
	if out, code := runProxyTestBin(t, "/usr/sbin/mailproxy", "/etc/mailproxy/mail.conf"); code != 0 || !strings.Contains(out, "test is successful") {
		t.Fatalf("mailproxy -t -c /etc/mailproxy/mail.conf: exit %d\n%s", code, out)
	}
	// And as the service user, which reads the 0640 file through its group.
	if out := debRun(t, time.Minute, "setpriv", "--reuid", "mailproxy", "--regid", "mailproxy", "--init-groups",
		"/usr/sbin/mailproxy", "-t", "-q", "-c", "/etc/mailproxy/mail.conf"); strings.TrimSpace(out) != "" {
		t.Errorf("mailproxy -t -q as the mailproxy user printed:\n%s", out)
	}

	// The installed config with its ports on loopback and its auth_http
	// on the test's fake, run as the mailproxy user with the pid file and
	// log where the package puts them.
	if err := os.MkdirAll("/run/mailproxy", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown("/run/mailproxy", uid, gid); err != nil {
		t.Fatal(err)
	}
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	installed, err := os.ReadFile("/etc/mailproxy/mail.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(installed)
	ports := map[string]int{}
	for _, p := range []string{"143", "110", "25", "587"} {
		ports[p] = freePort(t)
		conf = debReplace(t, conf, "listen "+p+";", fmt.Sprintf("listen 127.0.0.1:%d;", ports[p]))
	}
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf = debReplace(t, conf, "listen 127.0.0.1:9145;", "listen "+admin+";")
	conf = debReplace(t, conf, "auth_http 127.0.0.1:9000/mail/auth;", "auth_http "+auth.Addr+"/mail/auth;")
	// The descriptor limit the unit's LimitNOFILE= would give: an
	// unprivileged process cannot raise its hard limit itself.
	conf = debReplace(t, conf, "worker_rlimit_nofile 1048576;", "")
	dir := daemonDir(t, "deb")
	confPath := filepath.Join(dir, "mail.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "mailproxy", conf, "setpriv", "--reuid", "mailproxy", "--regid", "mailproxy",
		"--init-groups", "/usr/sbin/mailproxy", "-c", confPath)
	p.errorLog = "/var/log/mailproxy/error.log"
	p.waitPort(t, admin)
	if err := opsLogin(ports["143"], "deb", "pass"); err != nil {
		t.Fatalf("IMAP login through the installed mailproxy: %v", err)
	}
	if st := debStatus(t, p.PID); st.uid != uid {
		t.Errorf("mailproxy runs as uid %d, want mailproxy (%d)", st.uid, uid)
	}
	pid, _ := os.ReadFile("/run/mailproxy/mailproxy.pid")
	if strings.TrimSpace(string(pid)) != strconv.Itoa(p.PID) {
		t.Errorf("/run/mailproxy/mailproxy.pid holds %q, want %d", pid, p.PID)
	}

	// logrotate with the packaged file: -d finds no error, a forced run
	// rotates error.log and its postrotate makes mailproxy reopen it.
	if lr, err := exec.LookPath("logrotate"); err == nil {
		state := filepath.Join(dir, "logrotate.state")
		out := debRun(t, time.Minute, lr, "-d", "-s", state, "/etc/logrotate.d/mailproxy")
		if strings.Contains(out, "error:") {
			t.Errorf("logrotate -d /etc/logrotate.d/mailproxy:\n%s", out)
		}
		debRun(t, time.Minute, lr, "-f", "-s", state, "/etc/logrotate.d/mailproxy")
		if _, err := os.Stat("/var/log/mailproxy/error.log.1"); err != nil {
			t.Fatalf("logrotate -f did not rotate error.log: %v", err)
		}
		debOwner(t, "/var/log/mailproxy/error.log", uid, -1, 0o640)
		waitFor(t, opsWait, func() bool {
			p.mustBeAlive(t)
			return debLogFDs(p.PID)["/var/log/mailproxy/error.log"] && !debLogFDs(p.PID)["/var/log/mailproxy/error.log.1"]
		}, func() string {
			return fmt.Sprintf("mailproxy did not reopen error.log after the postrotate USR1; open logs: %v", debLogFDs(p.PID))
		})
		if err := opsLogin(ports["143"], "deb", "pass"); err != nil {
			t.Fatalf("IMAP login after the rotation: %v", err)
		}
	} else {
		t.Log("logrotate not installed: rotation not checked")
	}
	p.stop(t)

	// Purge: nothing of the package stays but the user.
	debRun(t, 2*time.Minute, "dpkg", "--purge", "mailproxy")
	if debInstalled(t) {
		t.Fatal("mailproxy still known to dpkg after --purge")
	}
	for _, f := range append(strings.Split(debPkgFiles, "\n"),
		"/etc/mailproxy", "/var/log/mailproxy", "/usr/share/doc/mailproxy") {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("%s is left after dpkg --purge", f)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(listed), "\n") {
		if strings.Contains(l, "mailproxy") {
			if _, err := os.Lstat(l); err == nil {
				t.Errorf("%s (from dpkg -L) is left after dpkg --purge", l)
			}
		}
	}
	if _, err := user.Lookup("mailproxy"); err != nil {
		t.Errorf("the mailproxy user is gone after purge; Debian policy keeps it: %v", err)
	}
}

// debInstalled reports whether dpkg knows a mailproxy package (installed,
// or removed with its conffiles left).
func debInstalled(t testing.TB) bool {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "mailproxy").Output()
	if err != nil {
		return false
	}
	s := strings.TrimSpace(string(out))
	return s != "" && s != "un"
}

// debRun runs a command with a bound and returns its combined output,
// failing the test on a non-zero exit.
func debRun(t testing.TB, within time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runProxyTestBin is runProxyTest on another binary (the installed one).
func runProxyTestBin(t testing.TB, bin, path string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t", "-c", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s -t: %v", bin, err)
	}
	return string(out), 0
}

// debReplace replaces old, which must occur once, in conf.
func debReplace(t testing.TB, conf, old, repl string) string {
	t.Helper()
	if n := strings.Count(conf, old); n != 1 {
		t.Fatalf("installed mail.conf has %q %d times, want once: update this test", old, n)
	}
	return strings.Replace(conf, old, repl, 1)
}

// debOwner checks a path's owner (gid -1: any group) and mode.
func debOwner(t testing.TB, path string, uid, gid int, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || (gid >= 0 && int(st.Gid) != gid) || fi.Mode()&(os.ModeDir|os.ModePerm) != mode {
		t.Errorf("%s: uid %d gid %d mode %v; want uid %d gid %d mode %v", path, st.Uid, st.Gid, fi.Mode(), uid, gid, mode)
	}
}

type debProcStatus struct{ uid int }

// debStatus reads the real uid of a process from /proc.
func debStatus(t testing.TB, pid int) debProcStatus {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return debProcStatus{uid: uid}
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return debProcStatus{}
}

// debLogFDs is the set of files under /var/log/mailproxy the process holds open.
func debLogFDs(pid int) map[string]bool {
	m := map[string]bool{}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "/var/log/mailproxy/") {
			m[l] = true
		}
	}
	return m
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

package e2e

import (
	"os"
	"os/exec"
	"testing"
)

// needDaemon returns the path of a system daemon the tests run privately
// (dovecot, postfix), or fails: scripts/test.sh installs it, so a missing
// one is a setup error, not a reason to skip. Such daemons drop privileges
// themselves, so the tests need root.
func needDaemon(t testing.TB, name, packages string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		bin = "/usr/sbin/" + name
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s not found: run scripts/test.sh (it installs %s)", name, packages)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatalf("the %s tests need root (%s drops privileges itself): run scripts/test.sh as root", name, name)
	}
	return bin
}

// daemonDir makes a private directory for a daemon instance, removed at
// test end. Not t.TempDir: the daemon's unprivileged processes must be able
// to traverse it.
func daemonDir(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mailproxy-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped example config must pass mailproxy -t as installed: with
// its log directory present, as the systemd unit's LogsDirectory= makes
// it (-t opens the error_log file, as nginx -t does). The test stands a
// temporary directory in for /var/log/mailproxy; everything else is the
// file as shipped.
func TestOpsExampleConfig(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../scripts/mailproxy.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	const logDir = "/var/log/mailproxy/"
	if !strings.Contains(string(data), "error_log "+logDir) {
		t.Fatalf("the example no longer logs under %s: update this test", logDir)
	}
	dir := t.TempDir()
	conf := strings.ReplaceAll(string(data), logDir, dir+"/")
	path := filepath.Join(dir, "mail.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runProxyTest(t, path)
	if code != 0 || !strings.Contains(out, "test is successful") {
		t.Fatalf("mailproxy -t on the example: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "error.log")); err != nil {
		t.Errorf("-t did not open the example's error_log: %v", err)
	}
	// Without the directory -t fails the way a start would.
	missing := strings.ReplaceAll(string(data), logDir, filepath.Join(dir, "absent")+"/")
	path2 := filepath.Join(dir, "missing.conf")
	if err := os.WriteFile(path2, []byte(missing), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runProxyTest(t, path2); code != 1 || !strings.Contains(out, "absent/error.log\" failed (2: No such file or directory)") {
		t.Errorf("mailproxy -t with no log directory: exit %d\n%s", code, out)
	}
}

// The systemd unit keeps the lines operations rely on.
func TestOpsSystemdUnit(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../scripts/mailproxy.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	f := func(line string) {
		t.Helper()
		if !hasLine(unit, line) {
			t.Errorf("mailproxy.service lacks the line %q", line)
		}
	}
	f("ExecStartPre=/usr/local/bin/mailproxy -t -q -c /etc/mailproxy/mail.conf")
	f("ExecStart=/usr/local/bin/mailproxy -c /etc/mailproxy/mail.conf")
	f("ExecReload=/bin/kill -HUP $MAINPID")
	f("KillSignal=SIGQUIT")
	f("Type=notify")      // READY / MAINPID after an upgrade (loop/sdnotify.go)
	f("NotifyAccess=all") // the upgraded process is a child of the old main one
	f("LimitNOFILE=1048576")
	f("Restart=on-failure")
	f("AmbientCapabilities=CAP_NET_BIND_SERVICE")
	f("LogsDirectory=mailproxy") // the example's error_log directory
}

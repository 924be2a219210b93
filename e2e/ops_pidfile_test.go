package e2e

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 11, D6: a second mailproxy started on the same config failed on
// bind and, on its way out, removed the pid file the running instance had
// written (after overwriting it with its own pid), so "mailproxy -s reload"
// no longer found the running process. nginx 1.22 fails the same start
// with "bind() ... failed (98: Address already in use)" and leaves the pid
// file alone.
func TestFailedSecondStartKeepsRunningPidFile(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{})
	want := strconv.Itoa(r.p.PID)

	out, code := opsRun(t, "-c", r.confPath)
	if code == 0 {
		t.Fatalf("second mailproxy on the same config exited 0, want a bind failure; output:\n%s", out)
	}
	if !strings.Contains(out, "address already in use") {
		t.Fatalf("second mailproxy: exit %d, output %q; want the bind error", code, out)
	}
	r.p.mustBeAlive(t)

	data, err := os.ReadFile(r.pidFile())
	if err != nil {
		t.Fatalf("pid file after the failed second start: %v, want it kept", err)
	}
	if got := strings.TrimSpace(string(data)); got != want {
		t.Fatalf("pid file after the failed second start holds %q, want the running instance's %s", got, want)
	}

	if out, code := opsRun(t, "-s", "reload", "-c", r.confPath); code != 0 || out != "" {
		t.Fatalf("mailproxy -s reload after the failed second start: exit %d, output %q; want 0 and nothing", code, out)
	}
	r.waitMetrics(t, "reload counted", func(m opsMetrics) bool {
		v, _ := m.sum("mailproxy_config_reloads_total", "result", "ok")
		return v == 1
	})
}

// TestFailedSecondStartKeepsRunningUnixSocket: the same class as D6. A
// second start removed the running instance's unix-socket listener file
// before binding its own, and then its own on the way out, so the running
// instance was left accepting on a socket nobody could reach.
func TestFailedSecondStartKeepsRunningUnixSocket(t *testing.T) {
	t.Parallel()
	auth := startAuth(t, userAuth(startBackend(t, backendOpts{}).Port))
	sock := t.TempDir() + "/imap.sock"
	port := freePort(t)
	// The unix listener first: a second start reaches it before failing
	// on the TCP port.
	conf := strings.Replace(imapConf(t, auth.Addr, port, ""), "        listen 127.0.0.1:",
		"        listen unix:"+sock+";\n        listen 127.0.0.1:", 1)
	path := writeConf(t, conf)
	p := startProxy(t, conf)
	p.waitListen(t, "unix", sock)

	out, code := opsRun(t, "-c", path)
	if code == 0 || !strings.Contains(strings.ToLower(out), "address already in use") {
		t.Fatalf("second mailproxy on the same config: exit %d, output %q; want the bind error", code, out)
	}
	p.mustBeAlive(t)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("the running instance's unix socket after the failed second start: %v", err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, _ := c.Read(buf); !strings.HasPrefix(string(buf[:n]), "* OK") {
		t.Fatalf("greeting over the unix socket %q", buf[:n])
	}
}

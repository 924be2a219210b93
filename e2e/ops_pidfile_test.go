package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
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

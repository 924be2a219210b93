package e2e

import (
	"os"
	"strings"
	"testing"
)

// The shipped example config must pass mailproxy -t as it is.
func TestOpsExampleConfig(t *testing.T) {
	t.Parallel()
	path := "../scripts/mailproxy.conf.example"
	out, code := runProxyTest(t, path)
	if code != 0 || !strings.Contains(out, "test is successful") {
		t.Fatalf("mailproxy -t %s: exit %d\n%s", path, code, out)
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
	f("LimitNOFILE=1048576")
	f("Restart=on-failure")
	f("AmbientCapabilities=CAP_NET_BIND_SERVICE")
}

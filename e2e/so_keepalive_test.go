package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The legacy so_keepalive directive (issue 12): nginx 1.22 refuses it as
// unknown, older mail configs carry it; mailproxy accepts it with a
// notice naming the current form and turns on SO_KEEPALIVE on the client
// and backend connections, which ss -o shows as a keepalive timer.

// TestSoKeepaliveDirectiveCheck: mailproxy -t passes a config with it
// and names listen ... so_keepalive=on.
func TestSoKeepaliveDirectiveCheck(t *testing.T) {
	t.Parallel()
	conf := imapConf(t, "127.0.0.1:1", freePort(t), "so_keepalive on;")
	out, code := runProxyTest(t, writeConf(t, conf))
	if code != 0 || !strings.Contains(out, "test is successful") {
		t.Fatalf("mailproxy -t exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, `listen ... so_keepalive=on`) {
		t.Fatalf("no notice naming the listen parameter in:\n%s", out)
	}
}

// TestSoKeepaliveTimers: with so_keepalive on, the proxy's sockets to
// the client and to the backend have keepalive timers; with off, neither.
func TestSoKeepaliveTimers(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ss"); err != nil {
		t.Fatal("ss not found: apt-get install iproute2")
	}
	f := func(flag string, want bool) {
		t.Helper()
		r := newIMAPRig(t, "so_keepalive "+flag+";", backendOpts{})
		c := dialIMAP(t, r.port)
		c.login("a1", "user", "pass")
		// Until the peers have acknowledged everything, ss shows the
		// retransmission timer instead of the keepalive one.
		var cl, be string
		waitFor(t, ioWait, func() bool {
			cl, be = ssTimers(t, "127.0.0.1:"+strconv.Itoa(r.port), c.c.LocalAddr().String(), "127.0.0.1:"+strconv.Itoa(r.be.Port))
			return strings.Fields(cl)[1] == "0" && strings.Fields(be)[1] == "0"
		}, func() string { return "unacknowledged data: client side " + cl + ", backend side " + be })
		if strings.Contains(cl, "timer:(keepalive") != want || strings.Contains(be, "timer:(keepalive") != want {
			t.Fatalf("so_keepalive %s: client side %q, backend side %q; keepalive timers wanted: %v", flag, cl, be, want)
		}
		c.send("a2 LOGOUT\r\n")
	}
	f("on", true)
	f("off", false)
}

// ssTimers returns ss -tno's line for the proxy's client socket (local
// listen, peer client) and for its backend socket (peer backend).
func ssTimers(t *testing.T, listen, client, backend string) (cl, be string) {
	t.Helper()
	out, err := exec.Command("ss", "-tnoH", "state", "established").CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		switch {
		case f[2] == listen && f[3] == client:
			cl = l
		case f[3] == backend:
			be = l
		}
	}
	if cl == "" || be == "" {
		t.Fatalf("proxy sockets not found in ss output (client %q, backend %q):\n%s", cl, be, out)
	}
	return cl, be
}

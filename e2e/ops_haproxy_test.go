package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The README's scale-out recipe, run: HAProxy in TCP mode in front of
// mailproxy, health-checking /readyz on the admin listener. With PROXY
// protocol input built (listen ... proxy_protocol), HAProxy also sends
// send-proxy-v2 and the auth server must see the real client's port.

func TestOpsHAProxyInFront(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/haproxy"); e != nil {
			t.Skip("haproxy is not installed (scripts/test.sh installs it)")
		}
		bin = "/usr/sbin/haproxy"
	}
	pp := opsProxyProtocolBuilt(t)
	o := opsOpts{shutdown: "30s"}
	if pp {
		o.extra = "set_real_ip_from 127.0.0.1;"
	} else {
		t.Log("listen ... proxy_protocol is not accepted yet: HAProxy runs without send-proxy-v2")
	}
	r := newOpsRigListen(t, o, map[bool]string{true: " proxy_protocol", false: ""}[pp])
	dir := t.TempDir()
	sock := filepath.Join(dir, "haproxy.sock")
	front := freePort(t)
	send := ""
	if pp {
		send = " send-proxy-v2"
	}
	cfg := fmt.Sprintf(`global
    stats socket %s mode 600 level admin
defaults
    mode tcp
    timeout connect 5s
    timeout client 1m
    timeout server 1m
    timeout check 2s
backend mailproxy_imap
    balance leastconn
    option httpchk GET /readyz
    default-server%s check port %s inter 100ms fall 1 rise 1
    server mp1 127.0.0.1:%d
frontend imap
    bind 127.0.0.1:%d
    default_backend mailproxy_imap
`, sock, send, strings.TrimPrefix(r.admin, "127.0.0.1:"), r.port, front)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
	hp := startProc(t, "haproxy", "", bin, "-db", "-f", path)
	hp.waitPort(t, fmt.Sprintf("127.0.0.1:%d", front))

	// The health check sees /readyz 200.
	waitFor(t, opsWait, func() bool { return opsHAProxyStat(t, sock, "mailproxy_imap", "mp1") == "UP" },
		func() string { return "haproxy never marked mailproxy UP\n" + hp.logs() })
	c := relayedSession(t, front)
	if pp {
		// The auth server sees the client, not HAProxy.
		_, port, _ := net.SplitHostPort(c.c.LocalAddr().String())
		reqs := r.auth.requests()
		if got := reqs[len(reqs)-1].get("Client-Port"); got != port {
			t.Errorf("Client-Port %q, want the client's port %s (PROXY v2 not applied)", got, port)
		}
	}
	if err := opsLogin(front, "user", "pass"); err != nil {
		t.Fatalf("login through haproxy: %v", err)
	}

	// Drain: /readyz 503 takes mailproxy out of rotation; the session that
	// is already relayed goes on through HAProxy.
	r.signal(t, syscall.SIGTERM)
	waitFor(t, opsWait, func() bool {
		st := opsHAProxyStat(t, sock, "mailproxy_imap", "mp1")
		return st != "UP" && st != ""
	}, func() string { return fmt.Sprintf("haproxy still has mailproxy UP %v after TERM", opsWait) })
	echoWorks(c, "r2", "through-haproxy-while-draining")
	c.send("r3 LOGOUT\r\n")
	c.expect("* BYE fake backend logging out", "r3 OK LOGOUT completed")
	c.expectEOF()
	if code := r.waitExit(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

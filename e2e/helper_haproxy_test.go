package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Harness: a private HAProxy (from Debian's haproxy package) in front of
// mailproxy, and its runtime-API stats for the ops tests.

// haproxyFront is one HAProxy frontend forwarding to a mailproxy port.
type haproxyFront struct {
	port   int    // where HAProxy listens
	to     int    // mailproxy port
	option string // "send-proxy" or "send-proxy-v2"
}

// startHAProxy runs a private HAProxy in the foreground with one frontend
// and backend per front; it is stopped at test end.
func startHAProxy(t testing.TB, fronts ...haproxyFront) *proc {
	t.Helper()
	bin := needTool(t, "haproxy")
	conf := `global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
`
	for i, f := range fronts {
		conf += fmt.Sprintf(`frontend fe%d
    bind 127.0.0.1:%d
    default_backend be%d
backend be%d
    server mp 127.0.0.1:%d %s
`, i, f.port, i, i, f.to, f.option)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "haproxy", "", bin, "-db", "-f", path)
	for _, f := range fronts {
		p.waitPort(t, fmt.Sprintf("127.0.0.1:%d", f.port))
	}
	return p
}

// opsProxyProtocolBuilt reports whether mailproxy -t accepts
// "listen ... proxy_protocol" with set_real_ip_from.
func opsProxyProtocolBuilt(t testing.TB) bool {
	t.Helper()
	path := writeConf(t, fmt.Sprintf(`events {}
mail {
    auth_http 127.0.0.1:9/auth;
    set_real_ip_from 127.0.0.1;
    server {
        listen 127.0.0.1:%d proxy_protocol;
        protocol imap;
    }
}
`, freePort(t)))
	_, code := runProxyTest(t, path)
	return code == 0
}

// opsHAProxyStat returns HAProxy's "show stat" status of backend/server,
// or "" while the stats socket is not there yet (HAProxy creates it after
// binding its frontends).
func opsHAProxyStat(t testing.TB, sock, backend, server string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", sock, ioWait)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioWait))
	if _, err := c.Write([]byte("show stat\n")); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(c)
	status := -1
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if strings.HasPrefix(sc.Text(), "# ") {
			for i, name := range f {
				if name == "status" {
					status = i
				}
			}
			continue
		}
		if len(f) > status && status >= 0 && f[0] == backend && f[1] == server {
			return f[status]
		}
	}
	t.Fatalf("haproxy stat has no %s/%s", backend, server)
	return ""
}

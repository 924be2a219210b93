package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// A real HAProxy (TCP mode) in front of mailproxy, the way operators scale
// out (DESIGN.md "Scale"): Python's imaplib connects from 127.0.0.2 to
// HAProxy, HAProxy connects from 127.0.0.1 to mailproxy with send-proxy or
// send-proxy-v2, mailproxy logs in at a private Dovecot. The auth_http
// request must show the client HAProxy saw.

// ppImapPy is imaplib from a chosen source address: login, select, fetch
// message 1, logout; it prints its own source port first.
const ppImapPy = `
import imaplib, socket, sys
host, port, user, pw, src = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
socket.setdefaulttimeout(20)
class FromSource(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(src, 0))
m = FromSource(host, port)
print("source-port:", m.sock.getsockname()[1])
print("greeting:", m.welcome.decode())
typ, data = m.login(user, pw)
print("login:", typ)
typ, data = m.select("INBOX")
print("select:", typ, data[0].decode())
typ, data = m.fetch("1", "(RFC822)")
for line in data[0][1].decode().splitlines():
    if line.startswith("Subject:"):
        print("subject:", line[len("Subject:"):].strip())
typ, data = m.logout()
print("logout:", typ)
`

var ppSourcePortRe = regexp.MustCompile(`(?m)^source-port: (\d+)$`)

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

func TestHAProxyImaplib(t *testing.T) {
	t.Parallel()
	d := startDovecot(t)
	auth := startAuth(t, func(r *authReq) string {
		if r.get("Auth-User") == dovecotUser && r.get("Auth-Pass") == dovecotPass {
			return authOK(d.IMAPPort)
		}
		return authFail("Invalid login or password", 0)
	})
	trusted, untrusted := freePort(t), freePort(t)
	dir := t.TempDir()
	startProxy(t, fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
events {}
mail {
    auth_http %s/auth;
    server {
        listen 127.0.0.1:%d proxy_protocol;
        protocol imap;
        set_real_ip_from 127.0.0.1;
    }
    server {
        listen 127.0.0.1:%d proxy_protocol;
        protocol imap;
        set_real_ip_from 10.0.0.0/8;
    }
}
`, dir, auth.Addr, trusted, untrusted))
	v2, v1, v2u := freePort(t), freePort(t), freePort(t)
	startHAProxy(t,
		haproxyFront{v2, trusted, "send-proxy-v2"},
		haproxyFront{v1, trusted, "send-proxy"},
		haproxyFront{v2u, untrusted, "send-proxy-v2"})

	f := func(name string, hp int, clientIP string) {
		t.Run(name, func(t *testing.T) {
			out := runTool(t, "python3", "-c", ppImapPy, "127.0.0.1", strconv.Itoa(hp), dovecotUser, dovecotPass, "127.0.0.2")
			wantLines(t, out, "greeting: * OK IMAP4 ready", "login: OK", "select: OK 2",
				"subject: e2e message one", "logout: BYE")
			m := ppSourcePortRe.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no source port in:\n%s", out)
			}
			reqs := auth.take()
			if len(reqs) != 1 {
				t.Fatalf("%d auth requests, want 1", len(reqs))
			}
			r := reqs[0]
			want := map[string]string{
				"Client-IP":                  clientIP,
				"Proxy-Protocol-Addr":        "127.0.0.2",
				"Proxy-Protocol-Port":        m[1],
				"Proxy-Protocol-Server-Addr": "127.0.0.1",
				"Proxy-Protocol-Server-Port": strconv.Itoa(hp),
			}
			if clientIP == "127.0.0.2" {
				want["Client-Port"] = m[1]
			}
			for k, v := range want {
				if got := r.get(k); got != v {
					t.Errorf("%s: %q, want %q\n%s", k, got, v, r.Raw)
				}
			}
		})
	}
	f("send-proxy-v2", v2, "127.0.0.2")
	f("send-proxy", v1, "127.0.0.2")
	f("untrusted", v2u, "127.0.0.1")
}

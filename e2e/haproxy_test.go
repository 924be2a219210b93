package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
)

// A real HAProxy (TCP mode) in front of mailproxy, the way operators scale
// out (DESIGN.md "Scale"): Python's imaplib connects from 127.0.0.2 to
// HAProxy, HAProxy connects from 127.0.0.1 to mailproxy with send-proxy or
// send-proxy-v2, mailproxy logs in at a private Dovecot. The auth_http
// request must show the client HAProxy saw.

var ppSourcePortRe = regexp.MustCompile(`(?m)^source-port: (\d+)$`)

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

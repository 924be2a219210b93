package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TLS towards a real Dovecot backend (proxy_ssl, proxy_starttls,
// proxy_ssl_trusted_certificate, proxy_ssl_verify, proxy_ssl_name), with a
// backend CA made by the test. The Dovecot config is the e2e template with
// TLS switched on and the imaps/pop3s listeners given ports.

func TestTLSBackendDovecot(t *testing.T) {
	t.Parallel()
	d := startTLSDovecot(t)
	backendPort := map[string]int{}
	auth := startAuth(t, func(q *authReq) string {
		if q.get("Auth-User") != dovecotUser || q.get("Auth-Pass") != dovecotPass {
			return authFail("Invalid login or password", 0)
		}
		return authOK(backendPort[q.get("X-Backend")])
	})
	dir := t.TempDir()
	type srv struct {
		name, proto, directives string
		backend                 int
	}
	servers := []srv{
		{"imap-ssl", "imap", "proxy_ssl on; proxy_ssl_name backend.test;", d.IMAPSPort},
		{"imap-starttls", "imap", "proxy_starttls on; proxy_ssl_name backend.test;", d.IMAPPort},
		{"imap-ip", "imap", "proxy_ssl on;", d.IMAPSPort}, // verified against the IP SAN
		{"pop3-ssl", "pop3", "proxy_ssl on; proxy_ssl_name backend.test;", d.POP3SPort},
		{"pop3-stls", "pop3", "proxy_starttls on; proxy_ssl_name backend.test;", d.POP3Port},
		{"imap-wrongname", "imap", "proxy_ssl on; proxy_ssl_name other.test;", d.IMAPSPort},
		{"imap-noverify", "imap", "proxy_ssl on; proxy_ssl_name other.test; proxy_ssl_verify off;", d.IMAPSPort},
	}
	ports := map[string]int{}
	var b strings.Builder
	for _, s := range servers {
		port := freePort(t)
		ports[s.name] = port
		backendPort[s.name] = s.backend
		fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        protocol %s;\n        auth_http_header X-Backend %s;\n        %s\n    }\n",
			port, s.proto, s.name, s.directives)
	}
	conf := fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
pid %s/mailproxy.pid;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
    proxy_ssl_trusted_certificate %s;
%s}
`, dir, dir, auth.Addr, d.ca.Path, b.String())
	p := startProxy(t, conf)

	for _, name := range []string{"imap-ssl", "imap-starttls", "imap-ip", "imap-noverify"} {
		t.Run(name, func(t *testing.T) {
			out := imapPy(t, ports[name], dovecotUser, dovecotPass)
			wantLines(t, out, "select: OK 2", "subject: e2e message one", "logout: BYE")
		})
	}
	for _, name := range []string{"pop3-ssl", "pop3-stls"} {
		t.Run(name, func(t *testing.T) {
			out := pop3Py(t, ports[name], dovecotUser, dovecotPass, "user")
			wantLines(t, out, "stat: 2", "subject: e2e message one")
		})
	}
	t.Run("imap-wrongname", func(t *testing.T) {
		c := dialIMAP(t, ports["imap-wrongname"])
		c.send("a1 LOGIN " + dovecotUser + " " + dovecotPass + "\r\n")
		c.expect("* BAD internal server error")
		c.expectEOF()
	})
	// Dovecot saw TLS on every backend connection: its log names the
	// sessions "TLS" (imaps/pop3s) or "TLS" after STARTTLS.
	data, err := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
	if err != nil {
		t.Fatal(err)
	}
	logins := 0
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "Login: user=<"+dovecotUser+">") {
			logins++
			if !strings.Contains(l, "TLS") {
				t.Errorf("backend login without TLS: %s", l)
			}
		}
	}
	if logins < 6 {
		t.Errorf("%d logins in the Dovecot log, want 6:\n%s", logins, data)
	}
	p.mustBeAlive(t)
}

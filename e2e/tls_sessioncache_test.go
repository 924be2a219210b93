package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Server-side TLS session cache and ssl_conf_command (issue 12, items 4
// and 5), checked with openssl s_client -sess_out/-sess_in and Python's
// ssl module against mailproxy and, on the same config, nginx 1.22.

// tlsSrv is one IMAP server over implicit TLS with its own directives.
type tlsSrv struct {
	port  int
	extra string
}

// tlsServersConf renders servers that share ts's certificate.
func tlsServersConf(t *testing.T, ts *tlsSetup, mailExtra string, srvs []tlsSrv) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	for _, s := range srvs {
		fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d ssl;\n        protocol imap;\n%s    }\n", s.port, indent(s.extra, "        "))
	}
	// nginx 1.22's default ssl_protocols lacks TLSv1.3: both get it.
	return fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
pid %s/mailproxy.pid;
events {}
mail {
    server_name mx.test;
    auth_http 127.0.0.1:9/auth;
    ssl_protocols TLSv1.2 TLSv1.3;
%s
%s}
`, dir, dir, indent(ts.directives(mailExtra), "    "), b.String())
}

// sClient runs openssl s_client against port with args, sends an IMAP
// LOGOUT once the greeting is in (answered before any login, so no
// auth_http is needed; nginx, unlike mailproxy, does not read a command
// that arrives with the last handshake flight) and returns the output.
// -ign_eof keeps it reading until the server closes, so a TLS 1.3
// ticket, which follows the handshake, is read and saved by -sess_out.
// Handshake failures are returned, not fatal.
func sClient(t *testing.T, port int, args ...string) string {
	t.Helper()
	all := append([]string{"s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", port), "-servername", "mx.test", "-ign_eof"}, args...)
	cmd := exec.Command(needTool(t, "openssl"), all...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "* OK") {
			io.WriteString(stdin, "a1 LOGOUT\r\n")
		}
	}
	stdin.Close()
	_ = cmd.Wait()
	return out.String() + stderr.String()
}

// sReused does two connections, the second offering the session the
// first saved, and reports whether the second was resumed. A first
// connection that gives the client nothing to save (no ticket, no
// session ID) is not resumed.
func sReused(t *testing.T, port int, args ...string) bool {
	t.Helper()
	sess := filepath.Join(t.TempDir(), "sess.pem")
	first := sClient(t, port, append(args, "-sess_out", sess)...)
	if !strings.Contains(first, "a1 OK") {
		t.Fatalf("first connection to %d failed:\n%s", port, first)
	}
	if fi, err := os.Stat(sess); err != nil || fi.Size() == 0 {
		return false
	}
	second := sClient(t, port, append(args, "-sess_in", sess)...)
	if !strings.Contains(second, "a1 OK") {
		t.Fatalf("second connection to %d failed:\n%s", port, second)
	}
	return strings.Contains(second, "\nReused, TLSv1.")
}

var sessClients = []struct {
	name string
	args []string
}{
	{"TLSv1.2", []string{"-tls1_2"}},
	{"TLSv1.2 -no_ticket", []string{"-tls1_2", "-no_ticket"}},
	{"TLSv1.3", []string{"-tls1_3"}},
	{"TLSv1.3 -no_ticket", []string{"-tls1_3", "-no_ticket"}},
}

// sessionCases: ssl_session_cache × ssl_session_tickets, and for each
// client of sessClients whether nginx 1.22 resumes (measured; README
// table). mailproxy resumes the same, except a TLS 1.2 client without
// tickets (-no_ticket) with builtin or shared: nginx resumes it by session
// ID, which Go's crypto/tls cannot do (loop/mailtls/sessioncache.go).
var sessionCases = []struct {
	cache, tickets string
	nginx          [4]bool
}{
	{"off", "on", [4]bool{true, false, true, true}},
	{"off", "off", [4]bool{false, false, false, false}},
	{"none", "on", [4]bool{true, false, true, true}},
	{"none", "off", [4]bool{false, false, false, false}},
	{"builtin", "on", [4]bool{true, true, true, true}},
	{"builtin", "off", [4]bool{true, true, true, true}},
	{"builtin:1000", "off", [4]bool{true, true, true, true}},
	{"shared:MAIL:1m", "on", [4]bool{true, true, true, true}},
	{"shared:MAIL:1m", "off", [4]bool{true, true, true, true}},
}

func sessionCasesConf(t *testing.T, ts *tlsSetup) (string, []int) {
	var srvs []tlsSrv
	var ports []int
	for _, c := range sessionCases {
		p := freePort(t)
		ports = append(ports, p)
		srvs = append(srvs, tlsSrv{p, fmt.Sprintf("ssl_session_cache %s;\nssl_session_tickets %s;\n", c.cache, c.tickets)})
	}
	return tlsServersConf(t, ts, "", srvs), ports
}

// mailproxyResumes is the nginx column with mailproxy's one difference.
func mailproxyResumes(cache string, client int, nginx bool) bool {
	if client == 1 && (strings.HasPrefix(cache, "builtin") || strings.HasPrefix(cache, "shared")) {
		return false
	}
	return nginx
}

// TestTLSSessionCacheResumesAsNginx: with tickets off, builtin and shared
// still resume (they did not before: Go had no server-side store), off and
// none do not; with tickets on, as before.
func TestTLSSessionCacheResumesAsNginx(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	conf, ports := sessionCasesConf(t, ts)
	startProxy(t, conf)
	for i, c := range sessionCases {
		for j, cl := range sessClients {
			want := mailproxyResumes(c.cache, j, c.nginx[j])
			if got := sReused(t, ports[i], cl.args...); got != want {
				t.Errorf("ssl_session_cache %s, tickets %s, %s client: resumed=%v, want %v", c.cache, c.tickets, cl.name, got, want)
			}
		}
	}
}

// TestTLSSessionCacheTableIsNginxs checks the table above on nginx 1.22.
func TestTLSSessionCacheTableIsNginxs(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	conf, ports := sessionCasesConf(t, ts)
	startNginx(t, conf)
	for i, c := range sessionCases {
		for j, cl := range sessClients {
			if got := sReused(t, ports[i], cl.args...); got != c.nginx[j] {
				t.Errorf("nginx: ssl_session_cache %s, tickets %s, %s client: resumed=%v, table says %v", c.cache, c.tickets, cl.name, got, c.nginx[j])
			}
		}
	}
}

// TestTLSSessionCacheSharedAcrossServers: two servers naming one zone
// share it, as nginx's do, but a session is resumed only by a server with
// the same certificates (nginx's session ID context).
func TestTLSSessionCacheSharedAcrossServers(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	other := newTLSSetup(t)
	a, b, c := freePort(t), freePort(t), freePort(t)
	conf := tlsServersConf(t, ts, "ssl_session_tickets off;\nssl_session_cache shared:ONE:1m;", []tlsSrv{
		{a, ""}, {b, ""},
		{c, fmt.Sprintf("ssl_certificate %s;\nssl_certificate_key %s;\n", other.cert, other.key)},
	})
	startProxy(t, conf)
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		sess := filepath.Join(t.TempDir(), "sess.pem")
		sClient(t, a, v, "-sess_out", sess)
		if out := sClient(t, b, v, "-sess_in", sess); !strings.Contains(out, "\nReused, TLSv1.") {
			t.Errorf("%s: a session from one server of zone ONE not resumed by the other:\n%s", v, out)
		}
		if out := sClient(t, c, v, "-sess_in", sess); strings.Contains(out, "\nReused, TLSv1.") {
			t.Errorf("%s: a server with other certificates resumed the session", v)
		}
	}
}

// TestTLSSessionCachePython: Python's ssl module reuses a session
// (SSLSocket.session) against builtin with tickets off, TLS 1.2 and 1.3.
func TestTLSSessionCachePython(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	port := freePort(t)
	startProxy(t, tlsServersConf(t, ts, "", []tlsSrv{{port, "ssl_session_cache builtin:100;\nssl_session_tickets off;\n"}}))
	script := `
import socket, ssl, sys
port, ca, ver = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, ver)
def once(session):
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="mx.test", session=session) as s:
            s.recv(100)          # the greeting; a TLS 1.3 ticket comes before it
            s.sendall(b"a1 LOGOUT\r\n")
            while s.recv(100):
                pass
            return s.session, s.session_reused
sess, first = once(None)
_, second = once(sess)
print("first", first, "second", second)
`
	for _, v := range []string{"TLSv1_2", "TLSv1_3"} {
		out := tlsRun(t, "", "python3", "-c", script, fmt.Sprint(port), ts.ca.Path, v)
		if !strings.Contains(out, "first False second True") {
			t.Errorf("%s: Python did not reuse the session: %s", v, out)
		}
	}
}

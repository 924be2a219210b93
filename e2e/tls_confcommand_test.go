package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// ssl_conf_command (issue 12, item 5) and the TLS 1.2 suite choice, the
// same configs through mailproxy and nginx 1.22.

// sHandshake is what s_client reports of the handshake: "TLSv1.2
// ECDHE-ECDSA-AES256-GCM-SHA384", or "failed".
func sHandshake(t *testing.T, port int, args ...string) string {
	t.Helper()
	out := sClient(t, port, args...)
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "New, "); ok && !strings.HasPrefix(rest, "(NONE)") {
			ver, cipher, _ := strings.Cut(rest, ", Cipher is ")
			return ver + " " + cipher
		}
	}
	return "failed"
}

// confCommandCases: server directives, client options, what both give.
// TLS 1.3 suite names differ (Go and OpenSSL order them differently), so
// TLS 1.3 rows check the version only.
var confCommandCases = []struct {
	extra  string
	client []string
	want   string
}{
	// Client order by default, as OpenSSL (Go alone would pick AES-128-GCM).
	{"", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"}, "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"},
	{"ssl_prefer_server_ciphers on;", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"}, "TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305"},
	{"ssl_conf_command Options ServerPreference;", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"}, "TLSv1.2 ECDHE-ECDSA-CHACHA20-POLY1305"},
	{"ssl_prefer_server_ciphers on;\nssl_conf_command Options -ServerPreference;", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"}, "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"},
	{"ssl_conf_command CipherString ECDHE-ECDSA-AES128-GCM-SHA256;", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"}, "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256"},
	{"ssl_conf_command CipherString ECDHE-ECDSA-AES128-GCM-SHA256;", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"}, "failed"},
	{"ssl_conf_command MinProtocol TLSv1.3;", []string{"-tls1_2"}, "failed"},
	{"ssl_conf_command MinProtocol TLSv1.3;", []string{"-tls1_3"}, "TLSv1.3"},
	{"ssl_conf_command MaxProtocol TLSv1.2;", []string{}, "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"},
	{"ssl_conf_command Groups X25519;", []string{"-groups", "P-256"}, "failed"},
	{"ssl_conf_command Curves X25519;", []string{"-groups", "X25519"}, "TLSv1.3"},
	{"ssl_conf_command Groups P-256;", []string{"-tls1_2", "-groups", "X25519:P-256"}, "TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384"},
}

func confCommandConf(t *testing.T, ts *tlsSetup) (string, []int) {
	var srvs []tlsSrv
	var ports []int
	for _, c := range confCommandCases {
		p := freePort(t)
		ports = append(ports, p)
		srvs = append(srvs, tlsSrv{p, c.extra + "\n"})
	}
	// The e2e certificate is ECDSA: ECDSA suites.
	return tlsServersConf(t, ts, "ssl_ciphers ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384;", srvs), ports
}

func checkConfCommandCases(t *testing.T, who string, ports []int) {
	t.Helper()
	for i, c := range confCommandCases {
		got := sHandshake(t, ports[i], c.client...)
		if c.want == "TLSv1.3" {
			got, _, _ = strings.Cut(got, " ")
		}
		if got != c.want {
			t.Errorf("%s: %q, client %v: %s, want %s", who, c.extra, c.client, got, c.want)
		}
	}
}

func TestTLSConfCommandAsNginx(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	conf, ports := confCommandConf(t, ts)
	startProxy(t, conf)
	checkConfCommandCases(t, "mailproxy", ports)
}

func TestTLSConfCommandTableIsNginxs(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	conf, ports := confCommandConf(t, ts)
	startNginx(t, conf)
	checkConfCommandCases(t, "nginx", ports)
}

// TestTLSConfCommandSessionTicket: Options -SessionTicket turns tickets
// off after ssl_session_tickets, and SessionTicket on, as in nginx.
func TestTLSConfCommandSessionTicket(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	off, offCached, on := freePort(t), freePort(t), freePort(t)
	startProxy(t, tlsServersConf(t, ts, "", []tlsSrv{
		{off, "ssl_conf_command Options -SessionTicket;\n"},
		{offCached, "ssl_session_cache shared:T:1m;\nssl_conf_command Options -SessionTicket;\n"},
		{on, "ssl_session_tickets off;\nssl_conf_command Options SessionTicket;\n"},
	}))
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		if sReused(t, off, v) {
			t.Errorf("%s: resumed with Options -SessionTicket and no cache", v)
		}
		if !sReused(t, offCached, v) {
			t.Errorf("%s: not resumed with Options -SessionTicket and a shared cache", v)
		}
		if !sReused(t, on, v) {
			t.Errorf("%s: not resumed with ssl_session_tickets off and Options SessionTicket", v)
		}
	}
}

// TestTLSConfCommandCertificate: Certificate and PrivateKey replace the
// ssl_certificate pair of the same key type.
func TestTLSConfCommandCertificate(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	other := newTLSSetup(t)
	port := freePort(t)
	startProxy(t, tlsServersConf(t, ts, "", []tlsSrv{{port, fmt.Sprintf("ssl_conf_command Certificate %s;\nssl_conf_command PrivateKey %s;\n", other.cert, other.key)}}))
	if out := sClient(t, port, "-CAfile", other.ca.Path, "-verify_return_error"); !strings.Contains(out, "a1 OK") {
		t.Fatalf("the Certificate of ssl_conf_command is not the one served:\n%s", out)
	}
	if out := sClient(t, port, "-CAfile", ts.ca.Path, "-verify_return_error"); strings.Contains(out, "a1 OK") {
		t.Fatal("the ssl_certificate replaced by ssl_conf_command Certificate is still served")
	}
}

// TestTLSConfCommandErrors: what -t says, nginx's wording where nginx has
// one.
func TestTLSConfCommandErrors(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	f := func(extra, want string, code int) {
		t.Helper()
		path := writeConf(t, tlsProtoConf(t, "imap", "127.0.0.1:9", 30993, "ssl", ts.directives(extra)))
		out, got := runProxyTest(t, path)
		if got != code || !strings.Contains(out, want) {
			t.Fatalf("%q: exit %d (want %d), output lacks %q:\n%s", extra, got, code, want, out)
		}
	}
	f("ssl_conf_command Foo bar;", `SSL_CONF_cmd("Foo", "bar") failed (SSL: error:0A000182:SSL routines::unknown cmd name:cmd=Foo)`, 1)
	f("ssl_conf_command Options Bogus;", `SSL_CONF_cmd("Options", "Bogus") failed (SSL: error:0A000180:SSL routines::bad value:cmd=Options, value=Bogus)`, 1)
	f("ssl_conf_command MinProtocol TLSv9;", `SSL_CONF_cmd("MinProtocol", "TLSv9") failed`, 1)
	f("ssl_conf_command Groups nosuch;", `SSL_CONF_cmd("Groups", "nosuch") failed`, 1)
	f("ssl_conf_command Ciphersuites NOSUCH;", `SSL_CONF_cmd("Ciphersuites", "NOSUCH") failed`, 1)
	f("ssl_conf_command SignatureAlgorithms RSA+SHA256;", `"ssl_conf_command SignatureAlgorithms" is not supported by mailproxy`, 1)
	f("ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384;", `"ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384" cannot be honoured: Go's crypto/tls always enables TLS_AES_128_GCM_SHA256 and TLS_CHACHA20_POLY1305_SHA256`, 1)
	f("ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384;\nssl_protocols TLSv1.2;", `cannot choose or order TLS 1.3 suites`, 0)
	f("ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256;", `[warn] "ssl_conf_command Ciphersuites" cannot choose or order TLS 1.3 suites`, 0)
	f("ssl_conf_command Options PrioritizeChaCha;", `"ssl_conf_command Options PrioritizeChaCha" is ignored`, 0)
	f("ssl_conf_command minprotocol TLSv1.3;", "test is successful", 0)
	f("ssl_conf_command Certificate /nonexistent.pem;", `SSL_CONF_cmd("Certificate", "/nonexistent.pem") failed`, 1)
	f("ssl_session_cache shared:A:1m;\nserver { listen 127.0.0.1:30994; protocol imap; ssl_session_cache shared:A:2m; }",
		`the size 2097152 of shared memory zone "A" conflicts with already declared size 1048576`, 1)
}

package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c := testOK(t, "mail { auth_http 127.0.0.1:9; server { listen 127.0.0.1:1143; protocol imap; } }")
	if c.WorkerConnections != 512 || c.WorkerProcesses != 0 || !c.Daemon || !c.MasterProcess || c.Pid != "" || c.GCHeapFloor != 32<<20 {
		t.Fatalf("main defaults: %+v", c)
	}
	if !reflect.DeepEqual(c.ErrorLogs, []LogTarget{{Path: "stderr", Level: "error"}}) {
		t.Fatalf("error_log default: %+v", c.ErrorLogs)
	}
	s := c.Mail.Servers[0]
	host, _ := os.Hostname()
	want := serverDefaults()
	if want.ServerName != host {
		t.Fatalf("server_name default %q, want hostname %q", want.ServerName, host)
	}
	f := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
	}
	f("server_name", s.ServerName, host)
	f("timeout", s.Timeout, 60*time.Second)
	f("max_errors", s.MaxErrors, 5)
	f("auth_http_timeout", s.AuthHTTPTimeout, 60*time.Second)
	f("proxy_buffer", s.ProxyBuffer, 4096)
	f("proxy_timeout", s.ProxyTimeout, 24*time.Hour)
	f("xclient", s.XClient, true)
	f("proxy", s.Proxy, false)
	f("imap_auth", s.IMAPAuth, AuthPlain)
	f("imap_capabilities", s.IMAPCapabilities, []string{"IMAP4", "IMAP4rev1", "UIDPLUS"})
	f("imap_client_buffer", s.IMAPClientBuffer, 4096)
	f("pop3_auth", s.POP3Auth, AuthPlain)
	f("pop3_capabilities", s.POP3Capabilities, []string{"TOP", "USER", "UIDL"})
	f("pop3_client_buffer", s.POP3ClientBuffer, 4096)
	f("smtp_auth", s.SMTPAuth, AuthPlain|AuthLogin)
	f("smtp_capabilities", len(s.SMTPCapabilities), 0)
	f("smtp_client_buffer", s.SMTPClientBuffer, 4096)
	f("smtp_greeting_delay", s.SMTPGreetingDelay, time.Duration(0))
	f("starttls", s.Starttls, StarttlsOff)
	f("ssl_protocols", s.SSLProtocols, []string{"TLSv1.2", "TLSv1.3"})
	f("ssl_ciphers", s.SSLCiphers, "HIGH:!aNULL:!MD5")
	f("ssl_session_timeout", s.SSLSessionTimeout, 5*time.Minute)
	f("ssl_session_tickets", s.SSLSessionTickets, true)
	f("ssl_verify_depth", s.SSLVerifyDepth, 1)
	f("resolver", len(s.Resolver), 0)
	f("resolver_timeout", s.ResolverTimeout, 30*time.Second)
	f("proxy_protocol", s.ProxyProtocolOut, ProxyProtocolOff)
	f("error_log", len(s.ErrorLogs), 0)
}

func TestValues(t *testing.T) {
	s := testServer(t, "", `
		server_name mx.example; timeout 5m; max_errors 3; auth_http_timeout 500ms;
		proxy on; proxy_buffer 16k; proxy_pass_error_message on; proxy_smtp_auth on;
		proxy_timeout 1h30m; xclient off; proxy_protocol off;
		imap_auth login CRAM-MD5; imap_auth external; imap_client_buffer 1m;
		pop3_auth apop; pop3_client_buffer 8k; smtp_auth none; smtp_capabilities "SIZE 10485760" 8BITMIME;
		smtp_client_buffer 2k; smtp_greeting_delay 2s; auth_http_header X-Secret s3cr3t;
		auth_http_pass_client_cert on; resolver off; error_log stderr info; starttls off;`)
	f := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
	}
	f("server_name", s.ServerName, "mx.example")
	f("timeout", s.Timeout, 5*time.Minute)
	f("max_errors", s.MaxErrors, 3)
	f("auth_http_timeout", s.AuthHTTPTimeout, 500*time.Millisecond)
	f("proxy", s.Proxy, true)
	f("proxy_buffer", s.ProxyBuffer, 16384)
	f("proxy_pass_error_message", s.ProxyPassErrorMessage, true)
	f("proxy_smtp_auth", s.ProxySMTPAuth, true)
	f("proxy_timeout", s.ProxyTimeout, 90*time.Minute)
	f("xclient", s.XClient, false)
	f("imap_auth", s.IMAPAuth, AuthLogin|AuthCramMD5|AuthExternal)
	f("imap_client_buffer", s.IMAPClientBuffer, 1<<20)
	f("pop3_auth", s.POP3Auth, AuthAPOP)
	f("pop3_client_buffer", s.POP3ClientBuffer, 8192)
	f("smtp_auth", s.SMTPAuth, AuthNone)
	f("smtp_capabilities", s.SMTPCapabilities, []string{"SIZE 10485760", "8BITMIME"})
	f("smtp_client_buffer", s.SMTPClientBuffer, 2048)
	f("smtp_greeting_delay", s.SMTPGreetingDelay, 2*time.Second)
	f("auth_http_header", s.AuthHTTPHeaders, []Header{{"X-Secret", "s3cr3t"}})
	f("auth_http_pass_client_cert", s.AuthHTTPPassClientCert, true)
	f("error_log", s.ErrorLogs, []LogTarget{{Path: "stderr", Level: "info"}})
}

func TestInheritance(t *testing.T) {
	// mail-level values reach servers that do not set them.
	s := testServer(t, "imap_capabilities IMAP4rev1 ID; timeout 10s; auth_http_header A 1; auth_http_header B 2; imap_auth login;", "")
	if !reflect.DeepEqual(s.IMAPCapabilities, []string{"IMAP4rev1", "ID"}) || s.Timeout != 10*time.Second ||
		len(s.AuthHTTPHeaders) != 2 || s.IMAPAuth != AuthLogin {
		t.Fatalf("inherited: %+v", s)
	}
	// a server-level list replaces the inherited one wholesale.
	s = testServer(t, "imap_capabilities IMAP4rev1 ID; auth_http_header A 1; auth_http_header B 2; timeout 10s;",
		"imap_capabilities IMAP4 SASL-IR; auth_http_header C 3; timeout 20s;")
	if !reflect.DeepEqual(s.IMAPCapabilities, []string{"IMAP4", "SASL-IR"}) ||
		!reflect.DeepEqual(s.AuthHTTPHeaders, []Header{{"C", "3"}}) || s.Timeout != 20*time.Second {
		t.Fatalf("replaced: %+v", s)
	}
	// repeated list directives at one level append.
	s = testServer(t, "", "imap_capabilities A; imap_capabilities B C;")
	if !reflect.DeepEqual(s.IMAPCapabilities, []string{"A", "B", "C"}) {
		t.Fatalf("appended: %v", s.IMAPCapabilities)
	}
	// auth_http set in a server overrides mail's; two servers, one inherits.
	c := testOK(t, `mail {
		auth_http 127.0.0.1:9/mail;
		server { listen 127.0.0.1:1143; protocol imap; }
		server { listen 127.0.0.1:1110; protocol pop3; auth_http localhost:8080/pop; }
	}`)
	a, b := c.Mail.Servers[0], c.Mail.Servers[1]
	if a.AuthHTTPURI != "/mail" || b.AuthHTTPURI != "/pop" || b.AuthHTTPAddr != "localhost:8080" || a.Protocol != IMAP || b.Protocol != POP3 {
		t.Fatalf("per-server auth_http: %+v %+v", a, b)
	}
	// a mail-level directive after the servers still applies (nginx merges at the end).
	c = testOK(t, "mail { server { listen 127.0.0.1:1143; protocol imap; } auth_http 127.0.0.1:9; timeout 7s; }")
	if c.Mail.Servers[0].Timeout != 7*time.Second || c.Mail.Servers[0].AuthHTTPAddr != "127.0.0.1:9" {
		t.Fatalf("late mail-level: %+v", c.Mail.Servers[0])
	}
}

func TestProtocolInference(t *testing.T) {
	f := func(listens, proto string, want Protocol) {
		t.Helper()
		body := listens
		if proto != "" {
			body += " protocol " + proto + ";"
		}
		c := testOK(t, "mail { auth_http 127.0.0.1:9; server { "+body+" } }")
		if got := c.Mail.Servers[0].Protocol; got != want {
			t.Fatalf("%q: protocol %v, want %v", body, got, want)
		}
	}
	f("listen 143;", "", IMAP)
	f("listen 993;", "", IMAP)
	f("listen 110;", "", POP3)
	f("listen 995;", "", POP3)
	f("listen 25;", "", SMTP)
	f("listen 465;", "", SMTP)
	f("listen 587;", "", SMTP)
	f("listen 127.0.0.1:1025; listen 127.0.0.1:110;", "", POP3)
	f("listen 127.0.0.1:143; listen 127.0.0.1:110;", "", IMAP)
	f("listen 143;", "pop3", POP3)
	f("listen 127.0.0.1:1025;", "smtp", SMTP)
}

func TestListen(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		c := testOK(t, "mail { auth_http 127.0.0.1:9; server { protocol imap; listen "+in+"; } }")
		var got []string
		for _, l := range c.Mail.Servers[0].Listens {
			got = append(got, l.Network+" "+l.Addr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("listen %s: %v, want %v", in, got, want)
		}
	}
	f("143", "tcp 0.0.0.0:143")
	f("*:143", "tcp 0.0.0.0:143")
	f("127.0.0.1:1143", "tcp 127.0.0.1:1143")
	f("[::1]:1143", "tcp [::1]:1143")
	f("[::]:143", "tcp [::]:143")
	f("localhost:1143", "tcp 127.0.0.1:1143", "tcp [::1]:1143")
	f("unix:/run/mail.sock", "unix unix:/run/mail.sock")

	c := testOK(t, "mail { auth_http 127.0.0.1:9; server { protocol imap; listen [::]:143 ipv6only=off backlog=100 rcvbuf=64k sndbuf=1m so_keepalive=30m::10; listen 127.0.0.1:1143 bind so_keepalive=on; } }")
	l := c.Mail.Servers[0].Listens
	want := []Listen{
		{Addr: "[::]:143", Network: "tcp", IPv6Only: 0, Backlog: 100, RcvBuf: 65536, SndBuf: 1 << 20, SoKeepalive: "30m::10", Bind: true},
		{Addr: "127.0.0.1:1143", Network: "tcp", IPv6Only: -1, SoKeepalive: "on", Bind: true},
	}
	for i := range l {
		l[i].File, l[i].Line = "", 0
	}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("params:\n got %+v\nwant %+v", l, want)
	}
}

func TestListenProxyProtocol(t *testing.T) {
	c := testOK(t, "mail { auth_http 127.0.0.1:9; server { listen 143 proxy_protocol; } }")
	if !c.Mail.Servers[0].Listens[0].ProxyProtocol {
		t.Fatal("proxy_protocol not set")
	}
}

func TestAuthHTTPURL(t *testing.T) {
	f := func(in, addr, host, uri, errMsg string) {
		t.Helper()
		u, msg := authHTTPParse(in)
		if msg != errMsg || u.Addr != addr || u.Host != host || u.URI != uri {
			t.Fatalf("%q: got %q %q %q %q; want %q %q %q %q", in, u.Addr, u.Host, u.URI, msg, addr, host, uri, errMsg)
		}
	}
	f("127.0.0.1", "127.0.0.1:80", "127.0.0.1", "/", "")
	f("http://127.0.0.1:9000/auth", "127.0.0.1:9000", "127.0.0.1", "/auth", "")
	f("auth.example/mail/auth?x=1", "auth.example:80", "auth.example", "/mail/auth?x=1", "")
	f("localhost:8080", "localhost:8080", "localhost", "/", "")
	f("[::1]:8080/a", "[::1]:8080", "[::1]", "/a", "")
	f("[::1]/a", "[::1]:80", "[::1]", "/a", "")
	f("unix:/run/auth.sock:/auth", "unix:/run/auth.sock", "localhost", "/auth", "")
	f("http://unix:/run/auth.sock", "unix:/run/auth.sock", "localhost", "/", "")
	f("127.0.0.1:0/a", "", "", "", "invalid port")
	f("127.0.0.1:x", "", "", "", "invalid port")
	f(":80", "", "", "", "no host")
	f("[::1", "", "", "", "invalid host")
	f("[zz]:80", "", "", "", "invalid IPv6 address")
	f("https://a/", "a:443", "a", "/", "")
	f("HTTPS://a:8443/x", "a:8443", "a", "/x", "")
	f("https://unix:/run/a.sock", "", "", "", "https over a unix domain socket is not supported")
	if u, _ := authHTTPParse("https://a/"); !u.TLS {
		t.Fatal("https:// without TLS")
	}
	f("unix:", "", "", "", "no path in the unix domain socket")

	s := testServer(t, "", "auth_http http://localhost:9000/auth;")
	if s.AuthHTTP != "http://localhost:9000/auth" || s.AuthHTTPAddr != "localhost:9000" || s.AuthHTTPHost != "localhost" || s.AuthHTTPURI != "/auth" {
		t.Fatalf("fields: %+v", s)
	}
}

// Several URLs (extension): each keeps its own Host and URI, the first
// fills the single-URL fields; the https options and the cache parse.
func TestAuthHTTPServers(t *testing.T) {
	s := testServer(t, "", "auth_http 127.0.0.1:9000/a https://localhost:9443/b; auth_http_ssl_trusted_certificate /ca.pem; auth_http_ssl_certificate /c.pem; auth_http_ssl_certificate_key /c.key;")
	want := []AuthHTTPServer{
		{URL: "127.0.0.1:9000/a", Addr: "127.0.0.1:9000", Host: "127.0.0.1", URI: "/a"},
		{URL: "https://localhost:9443/b", Addr: "localhost:9443", Host: "localhost", URI: "/b", TLS: true},
	}
	if !reflect.DeepEqual(s.AuthHTTPServers, want) || s.AuthHTTPAddr != "127.0.0.1:9000" {
		t.Fatalf("servers %+v addr %q", s.AuthHTTPServers, s.AuthHTTPAddr)
	}
	if s.AuthHTTPSSLTrustedCertificate != "/ca.pem" || s.AuthHTTPSSLCertificate != "/c.pem" || s.AuthHTTPSSLCertificateKey != "/c.key" {
		t.Fatalf("ssl: %+v", s)
	}
	if s.AuthHTTPCache.Size != 0 {
		t.Fatalf("cache on by default: %+v", s.AuthHTTPCache)
	}
	f := func(in string, want AuthCache) {
		t.Helper()
		s := testServer(t, "", "auth_http 127.0.0.1:9; auth_http_cache "+in+";")
		if s.AuthHTTPCache != want {
			t.Fatalf("%q: %+v, want %+v", in, s.AuthHTTPCache, want)
		}
	}
	f("off", AuthCache{})
	f("1000", AuthCache{Size: 1000, Valid: time.Minute, Invalid: 10 * time.Second})
	f("10 valid=5m invalid=30s client_ip", AuthCache{Size: 10, Valid: 5 * time.Minute, Invalid: 30 * time.Second, ClientIP: true})
	f("10 invalid=0", AuthCache{Size: 10, Valid: time.Minute})
}

func TestInclude(t *testing.T) {
	c, err, path := testParse(t, "worker_processes 3;\ninclude conf.d/*.conf;\ninclude empty.d/*.conf;\n", map[string]string{
		"conf.d/10-mail.conf": "mail {\n  auth_http 127.0.0.1:9;\n  include servers/*.conf;\n}\n",
		"conf.d/20-pid.conf":  "pid mailproxy.pid;\n",
		"servers/imap.conf":   "server { listen 127.0.0.1:1143; protocol imap; }\n",
		"servers/pop3.conf":   "server { listen 127.0.0.1:1110; protocol pop3; }\n",
		"empty.d/README":      "not a config",
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if c.WorkerProcesses != 3 || c.Pid != filepath.Join(dir, "mailproxy.pid") || len(c.Mail.Servers) != 2 {
		t.Fatalf("include: %+v", c)
	}
	if s := c.Mail.Servers[1]; s.File != filepath.Join(dir, "servers/pop3.conf") || s.Line != 1 || s.Protocol != POP3 {
		t.Fatalf("server location: %s:%d", s.File, s.Line)
	}
	// errors inside included files name that file and its line.
	_, err, path = testParse(t, "mail {\ninclude inc.conf;\n}\n", map[string]string{"inc.conf": "\n\ntimeout x;\n"})
	wantErr(t, err, path, `"timeout" directive invalid value in DIR/inc.conf:3`)
	_, err, path = testParse(t, "mail {\ninclude inc.conf;\n}\n", map[string]string{"inc.conf": "}\n"})
	wantErr(t, err, path, `unexpected "}" in DIR/inc.conf:1`)
	_, err, path = testParse(t, "include inc.conf;\n", map[string]string{"inc.conf": "mail {\n"})
	wantErr(t, err, path, `unexpected end of file, expecting "}" in DIR/inc.conf:2`)
	_, err, path = testParse(t, "include mail.conf;\n", nil)
	wantErr(t, err, path, `include depth exceeds 32 (include loop?) in FILE:1`)
}

func TestDump(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "mail.conf")
	os.WriteFile(main, []byte("events {}\ninclude inc*.conf;\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "inc1.conf"), []byte("pid p;"), 0o644)
	os.WriteFile(filepath.Join(dir, "inc2.conf"), []byte("# two\n"), 0o644)
	var b bytes.Buffer
	if err := Dump(main, &b); err != nil {
		t.Fatal(err)
	}
	// byte for byte what nginx 1.22 -T prints for the same files
	want := "# configuration file " + main + ":\nevents {}\ninclude inc*.conf;\n\n" +
		"# configuration file " + dir + "/inc1.conf:\npid p;\n" +
		"# configuration file " + dir + "/inc2.conf:\n# two\n\n"
	if b.String() != want {
		t.Fatalf("dump:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestMainContext(t *testing.T) {
	c := testOK(t, `
		load_module /usr/lib/nginx/modules/ngx_mail_module.so;
		worker_processes auto; worker_rlimit_nofile 65536; worker_shutdown_timeout 30s;
		daemon off; master_process on; pcre_jit on; env TZ; thread_pool default threads=4; gc_heap_floor 8m;
		error_log /tmp/mailproxy-test-error.log warn; error_log stderr;
		events { worker_connections 10000; use epoll; multi_accept on; }
		admin { listen 127.0.0.1:9145; }
		mail { auth_http 127.0.0.1:9; server { listen 127.0.0.1:1143; protocol imap; } }`)
	if c.WorkerProcesses != 0 || c.WorkerRlimitNofile != 65536 || c.ShutdownTimeout != 30*time.Second || c.Daemon ||
		c.WorkerConnections != 10000 || c.Admin == nil || c.Admin.Listen != "127.0.0.1:9145" || c.GCHeapFloor != 8<<20 {
		t.Fatalf("main: %+v", c)
	}
	if !reflect.DeepEqual(c.ErrorLogs, []LogTarget{{Path: "/tmp/mailproxy-test-error.log", Level: "warn"}, {Path: "stderr", Level: "error"}}) {
		t.Fatalf("error_log: %+v", c.ErrorLogs)
	}
	var msgs []string
	for _, n := range c.Notices {
		msgs = append(msgs, n.Level+": "+n.Msg)
	}
	all := strings.Join(msgs, "\n")
	for _, w := range []string{`notice: "load_module" is ignored`, `info: mailproxy always runs in the foreground; "daemon" is ignored in `, `notice: "thread_pool" directive is ignored by mailproxy in `} {
		if !strings.Contains(all, w) {
			t.Fatalf("notices lack %q:\n%s", w, all)
		}
	}
}

// TestSSLCertificatePath: an ssl_certificate path is made absolute
// against the prefix, as nginx does.
func TestSSLCertificatePath(t *testing.T) {
	s := testServer(t, "ssl_certificate a.pem;", "")
	if len(s.SSLCertificates) != 1 || !filepath.IsAbs(s.SSLCertificates[0]) {
		t.Fatalf("ssl_certificate: %v", s.SSLCertificates)
	}
}

func TestUser(t *testing.T) {
	if os.Geteuid() != 0 {
		c := testOK(t, "user nobody;")
		if c.User != "" || len(c.Notices) != 1 || c.Notices[0].Level != "warn" ||
			!strings.HasPrefix(c.Notices[0].Msg, `the "user" directive makes sense only if the master process runs with super-user privileges, ignored in `) {
			t.Fatalf("non-root user: %q %+v", c.User, c.Notices)
		}
		return
	}
	// as root the names are checked at load time, the group defaulting to
	// the user's name (nginx: getgrnam("nobody") failed on Debian).
	_, err, path := testParse(t, "user nosuchuser-x;", nil)
	wantErr(t, err, path, `getpwnam("nosuchuser-x") failed in FILE:1`)
	_, err, path = testParse(t, "user root nosuchgroup-x;", nil)
	wantErr(t, err, path, `getgrnam("nosuchgroup-x") failed in FILE:1`)
	c := testOK(t, "user root root;")
	if c.User != "root" || c.Group != "root" {
		t.Fatalf("root user: %q %q", c.User, c.Group)
	}
}

func TestNoticesNotRepeatedByInheritance(t *testing.T) {
	c := testOK(t, "mail { auth_http 127.0.0.1:9; set_real_ip_from 1.2.3.4/8; set_real_ip_from unix:;"+
		" server { listen 127.0.0.1:1143; protocol imap; } server { listen 127.0.0.1:1110; protocol pop3; } }")
	if len(c.Notices) != 1 || !strings.HasPrefix(c.Notices[0].Msg, "low address bits of 1.2.3.4/8 are meaningless in ") {
		t.Fatalf("notices: %+v", c.Notices)
	}
	for _, s := range c.Mail.Servers {
		if !reflect.DeepEqual(s.SetRealIPFrom, []string{"1.0.0.0/8", "unix:"}) {
			t.Fatalf("set_real_ip_from: %v", s.SetRealIPFrom)
		}
	}
}

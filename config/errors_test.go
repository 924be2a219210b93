package config

import "testing"

// The texts below were checked against nginx 1.22.1 (Debian,
// libnginx-mod-mail) with nginx -t where nginx has the same condition;
// differences are noted case by case.
func TestErrors(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		_, err, path := testParse(t, src, nil)
		wantErr(t, err, path, want)
	}
	const a = "auth_http 127.0.0.1:9;"
	// general (ngx_conf_file.c)
	f("foo;", `unknown directive "foo" in FILE:1`)
	f("mail {\n foo;\n}", `unknown directive "foo" in FILE:2`)
	f("mail { listen 143; }", `"listen" directive is not allowed here in FILE:1`)
	f("timeout 5s;", `"timeout" directive is not allowed here in FILE:1`)
	f("mail { timeout; }", `invalid number of arguments in "timeout" directive in FILE:1`)
	f("mail {\n timeout\n 1\n 2\n;\n}", `invalid number of arguments in "timeout" directive in FILE:5`)
	f("mail { server; }", `directive "server" has no opening "{" in FILE:1`)
	f("mail { timeout 1 {} }", `directive "timeout" is not terminated by ";" in FILE:1`)
	f("mail { timeout 1s; timeout 2s; }", `"timeout" directive is duplicate in FILE:1`)
	f("mail {}\nmail {}", `"mail" directive is duplicate in FILE:2`)
	f("events {}\nevents {}", `"events" directive is duplicate in FILE:2`)
	f("daemon maybe;", `invalid value "maybe" in "daemon" directive, it must be "on" or "off" in FILE:1`)
	f("mail { xclient yes; }", `invalid value "yes" in "xclient" directive, it must be "on" or "off" in FILE:1`)
	f("mail { timeout abc; }", `"timeout" directive invalid value in FILE:1`)
	f("mail { timeout 1y; }", `"timeout" directive invalid value in FILE:1`)
	f("mail { smtp_greeting_delay 30m1h; }", `"smtp_greeting_delay" directive invalid value in FILE:1`)
	f("mail { max_errors x; }", `"max_errors" directive invalid number in FILE:1`)
	f("mail { proxy_buffer 4x; }", `"proxy_buffer" directive invalid value in FILE:1`)
	f("mail { proxy_buffer 1g; }", `"proxy_buffer" directive invalid value in FILE:1`)
	f("mail { imap_auth foo; }", `invalid value "foo" in FILE:1`)
	f("mail { proxy_protocol maybe; }", `invalid value "maybe" in "proxy_protocol" directive, it must be "on" or "off" in FILE:1`)
	f("mail { resolver off; resolver off; }", `"resolver" directive is duplicate in FILE:1`)
	f("gc_heap_floor 1g;", `"gc_heap_floor" directive invalid value in FILE:1`)
	f("gc_heap_floor off;\ngc_heap_floor 8m;", `"gc_heap_floor" directive is duplicate in FILE:2`)
	f("mail { gc_heap_floor 8m; }", `"gc_heap_floor" directive is not allowed here in FILE:1`)
	f("worker_processes x;", `"worker_processes" directive invalid value in FILE:1`)
	f("worker_processes 1;\nworker_processes 2;", `"worker_processes" directive is duplicate in FILE:2`)
	f("events { worker_connections x; }", `invalid number "x" in FILE:1`)
	f("user a b c;", `invalid number of arguments in "user" directive in FILE:1`)
	f("error_log /tmp/e.log foo;", `invalid log level "foo" in FILE:1`)
	f("pid /a;\npid /b;", `"pid" directive is duplicate in FILE:2`)
	// lexer
	f("mail { }}", `unexpected "}" in FILE:1`)
	f("mail {\n\n", `unexpected end of file, expecting "}" in FILE:3`)
	f("mail { timeout \"1s\n", `unexpected end of file, expecting ";" or "}" in FILE:2`)
	f("mail { timeout \"1s\"x; }", `unexpected "x" in FILE:1`)
	f("mail { ; }", `unexpected ";" in FILE:1`)
	f("mail { listen 143 ", `unexpected end of file, expecting ";" or "}" in FILE:1`)
	f("pid /a # no semicolon", `unexpected end of file, expecting ";" or "}" in FILE:1`)
	f("{", `unexpected "{" in FILE:1`)
	// mail (ngx_mail_core_module and friends)
	f("mail { "+a+" server { listen 127.0.0.1:1143; } }", `unknown mail protocol for server in FILE:1`)
	f("mail {\n server {\n listen 127.0.0.1:1143;\n protocol imap;\n }\n}", `no "auth_http" is defined for server in FILE:2`)
	f("mail { "+a+"\n server { protocol imap; } }", `no "listen" is defined for server in FILE:2`)
	f("mail { "+a+" server { listen 143; protocol foo; } }", `unknown protocol "foo" in FILE:1`)
	f("mail { "+a+" server { listen 127.0.0.1:1143; listen 127.0.0.1:1143; protocol imap; } }", `duplicate "127.0.0.1:1143" address and port pair in FILE:1`)
	// nginx 1.22 prints the second address as written ("143"); we print it canonical.
	f("mail { "+a+" server { listen 0.0.0.0:143; }\n server { listen 143; } }", `duplicate "0.0.0.0:143" address and port pair in FILE:2`)
	f("mail { "+a+" server { listen *:143; } server { listen [::1]:143; } server { listen localhost:143; } }", `duplicate "[::1]:143" address and port pair in FILE:1`)
	f("mail { "+a+" server { listen unix:/tmp/s; protocol pop3; } server { listen unix:/tmp/s; protocol pop3; } }", `duplicate "unix:/tmp/s" address and port pair in FILE:1`)
	f("mail { "+a+" server { listen 143 foo; } }", `the invalid "foo" parameter in FILE:1`)
	f("mail { "+a+" server { listen 143 ipv6only=x; } }", `the invalid "ipv6only=x" parameter in FILE:1`)
	f("mail { "+a+" server { listen [::]:143 ipv6only=ox; } }", `invalid ipv6only flags "ox" in FILE:1`)
	f("mail { "+a+" server { listen 143 backlog=x; } }", `invalid backlog "backlog=x" in FILE:1`)
	f("mail { "+a+" server { listen 143 backlog=0; } }", `invalid backlog "backlog=0" in FILE:1`)
	f("mail { "+a+" server { listen 143 rcvbuf=1q; } }", `invalid rcvbuf "rcvbuf=1q" in FILE:1`)
	f("mail { "+a+" server { listen 143 sndbuf=; } }", `invalid sndbuf "sndbuf=" in FILE:1`)
	f("mail { "+a+" server { listen 143 so_keepalive=x; } }", `invalid so_keepalive value: "x" in FILE:1`)
	f("mail { "+a+" server { listen 143 so_keepalive=::; } }", `invalid so_keepalive value: "::" in FILE:1`)
	f("mail { "+a+" server { listen foo.invalid:143; } }", `host not found in "foo.invalid:143" of the "listen" directive in FILE:1`)
	f("mail { "+a+" server { listen 127.0.0.1:0; } }", `invalid port in "127.0.0.1:0" of the "listen" directive in FILE:1`)
	f("mail { "+a+" server { listen 127.0.0.1:70000; } }", `invalid port in "127.0.0.1:70000" of the "listen" directive in FILE:1`)
	// nginx takes port 0 here and fails later (or listens on a random port).
	f("mail { "+a+" server { listen 127.0.0.1; } }", `no port in "127.0.0.1" of the "listen" directive in FILE:1`)
	f("mail { auth_http foo.invalid:80/x; }", `host not found in auth_http "foo.invalid:80/x" in FILE:1`)
	f("mail { auth_http http://127.0.0.1:99999/x; }", `invalid port in auth_http "127.0.0.1:99999/x" in FILE:1`)
	f("mail { auth_http :80/x; }", `no host in auth_http ":80/x" in FILE:1`)
	// nginx: invalid port in auth_http "https://127.0.0.1/x"; mailproxy
	// speaks https (extension).
	f("mail { auth_http https://127.0.0.1/x; }", ``)
	f("mail { auth_http 127.0.0.1:9 127.0.0.1:9; }", `duplicate URL "127.0.0.1:9" in auth_http in FILE:1`)
	f("mail { auth_http 127.0.0.1:9 foo.invalid; }", `host not found in auth_http "foo.invalid" in FILE:1`)
	f("mail { auth_http_cache 0; }", `invalid cache size "0" in "auth_http_cache" in FILE:1`)
	f("mail { auth_http_cache 10 valid=x; }", `invalid parameter "valid=x" in FILE:1`)
	f("mail { auth_http_cache off 10; }", `invalid parameter "10" in FILE:1`)
	f("mail { "+a+" auth_http_ssl_certificate /c.pem; server { listen 143; protocol imap; } }", `"auth_http_ssl_certificate" and "auth_http_ssl_certificate_key" must be set together for server in FILE:1`)
	// Every directive of the mail modules is built: none is refused as
	// "not supported yet" any more.
	f("mail { "+a+" ssl_certificate /a.pem; ssl_certificate_key /a.key; }", ``)
	f("mail { starttls maybe; }", `invalid value "maybe" in FILE:1`)
	f("mail { "+a+" proxy_protocol on; }", ``)
	f("mail { "+a+" resolver 127.0.0.53; }", ``)
	f("mail { "+a+" set_real_ip_from 10.0.0.0/8; }", ``)
	f("mail { "+a+" server { listen 143 proxy_protocol; } }", ``)
	// nginx 1.22 has ssl as a directive; 1.25.1 removed it.
	f("mail { ssl on; }", `unknown directive "ssl" in FILE:1`)
	// mailproxy's own
	f("http {\n}", `the "http" block is not supported by mailproxy: it proxies mail only; serve HTTP with nginx in FILE:1`)
	f("stream {}", `the "stream" block is not supported by mailproxy: it proxies mail only; serve TCP/UDP streams with nginx in FILE:1`)
	f("admin {\n}", `no "listen" is defined for admin in FILE:1`)
	f("admin { listen 127.0.0.1:9145; foo; }", `unknown directive "foo" in FILE:1`)
	f("admin { listen 127.0.0.1:9145; timeout 1s; }", `"timeout" directive is not allowed here in FILE:1`)
	f("admin { listen 127.0.0.1:9145; listen 127.0.0.1:9146; }", `"listen" directive is duplicate in FILE:1`)
	f("admin { listen 127.0.0.1:0; }", `invalid port in "127.0.0.1:0" of the "listen" directive in FILE:1`)
	f("include nonexistent.conf;", `open() "DIR/nonexistent.conf" failed (2: No such file or directory) in FILE:1`)
}

// TestErrorsSSL checks nginx's certificate errors.
func TestErrorsSSL(t *testing.T) {
	f := func(src, want string) {
		t.Helper()
		_, err, path := testParse(t, src, nil)
		wantErr(t, err, path, want)
	}
	const a = "auth_http 127.0.0.1:9;"
	f("mail { "+a+"\n starttls on;\n server { listen 143; } }", `no "ssl_certificate" is defined for the "starttls" directive in FILE:2`)
	f("mail { "+a+" starttls on; server {\n listen 993 ssl;\n } }", `no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:2`)
	f("mail { "+a+" ssl_certificate /a.pem; server {\n listen 993 ssl;\n } }", `no "ssl_certificate_key" is defined for certificate "/a.pem" and the "listen ... ssl" directive in FILE:2`)
	f("mail { "+a+" ssl_certificate /a.pem; ssl_certificate_key /a.key; server { listen 993 ssl; } }", ``)
}

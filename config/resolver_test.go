package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestResolver parses resolver lines; errors are nginx 1.22.1's texts
// (nginx -t), except where noted.
func TestResolver(t *testing.T) {
	f := func(args, want string) {
		t.Helper()
		_, err, path := testParse(t, "mail {\n resolver "+args+";\n}", nil)
		wantErr(t, err, path, want)
	}
	ok := func(mail, server, want string) {
		t.Helper()
		s := testServer(t, mail, server)
		got := fmt.Sprintf("%s valid=%v ipv4=%v ipv6=%v", strings.Join(s.Resolver, ","), s.ResolverValid, s.ResolverIPv4, s.ResolverIPv6)
		if got != want {
			t.Fatalf("%q / %q:\n got %q\nwant %q", mail, server, got, want)
		}
	}
	f("valid=10s", `no name servers defined in FILE:2`)
	f("127.0.0.1 valid=abc", `invalid parameter: valid=abc in FILE:2`)
	f("127.0.0.1 ipv6=maybe", `invalid parameter: ipv6=maybe in FILE:2`)
	f("127.0.0.1 ipv4=maybe", `invalid parameter: ipv4=maybe in FILE:2`) // nginx ≥ 1.23.1
	f("127.0.0.1 ipv4=off ipv6=off", `"ipv4" and "ipv6" cannot both be "off" in FILE:2`)
	f("127.0.0.1:0", `invalid port in resolver "127.0.0.1:0" in FILE:2`)
	f("127.0.0.1:99999", `invalid port in resolver "127.0.0.1:99999" in FILE:2`)
	f("127.0.0.1:abc", `invalid port in resolver "127.0.0.1:abc" in FILE:2`)
	f("::1", `invalid port in resolver "::1" in FILE:2`)
	f("nonexistent.invalid", `host not found in resolver "nonexistent.invalid" in FILE:2`)
	f("127.0.0.1 foo=bar", `host not found in resolver "foo=bar" in FILE:2`)
	f("127.0.0.1 status_zone=x", `host not found in resolver "status_zone=x" in FILE:2`)
	f("127.0.0.1 off", `host not found in resolver "off" in FILE:2`)
	f("unix:/tmp/x", `a unix socket cannot be a name server in resolver "unix:/tmp/x" in FILE:2`) // nginx takes it
	f("127.0.0.1;\n resolver 127.0.0.2", `"resolver" directive is duplicate in FILE:3`)

	ok("", "", " valid=0s ipv4=false ipv6=false")
	ok("resolver off;", "", " valid=0s ipv4=false ipv6=false")
	ok("resolver off 127.0.0.1;", "", " valid=0s ipv4=false ipv6=false") // nginx: a first "off" wins
	ok("resolver 127.0.0.1;", "", "127.0.0.1:53 valid=0s ipv4=true ipv6=true")
	ok("resolver 127.0.0.1:5353 valid=10s ipv6=off 127.0.0.2;", "", "127.0.0.1:5353,127.0.0.2:53 valid=10s ipv4=true ipv6=false")
	ok("resolver [::1] [::1]:54 valid=30 ipv4=off;", "", "[::1]:53,[::1]:54 valid=30s ipv4=false ipv6=true")
	ok("resolver localhost:5353;", "", "127.0.0.1:5353,[::1]:5353 valid=0s ipv4=true ipv6=true")
	// mail → server inheritance; a server may turn it off.
	ok("resolver 127.0.0.1;", "resolver 127.0.0.9;", "127.0.0.9:53 valid=0s ipv4=true ipv6=true")
	ok("resolver 127.0.0.1 valid=5s;", "resolver off;", " valid=0s ipv4=false ipv6=false")
	ok("resolver_timeout 5s;", "", " valid=0s ipv4=false ipv6=false")
}

// An auth_http host name the system's resolver does not know passes the
// load when the name servers of the block's resolver directive give it an
// address (run time asks them too), wherever the directives are written.
func TestAuthHTTPNameKnownToResolver(t *testing.T) {
	var asked []string
	saved := lookupDNS
	defer func() { lookupDNS = saved }()
	lookupDNS = func(servers []string, timeout time.Duration, ipv4, ipv6 bool, host string) bool {
		asked = append(asked, fmt.Sprintf("%v %v %v %v %s", servers, timeout, ipv4, ipv6, host))
		return host == "auth.dns.test" && servers[0] == "127.0.0.1:5353"
	}
	f := func(src, want string, ask ...string) {
		t.Helper()
		asked = nil
		_, err, path := testParse(t, src, nil)
		wantErr(t, err, path, want)
		if strings.Join(asked, "; ") != strings.Join(ask, "; ") {
			t.Fatalf("asked %q, want %q", asked, ask)
		}
	}
	const srv = "server { listen 127.0.0.1:1143; protocol imap; }"
	const known = "[127.0.0.1:5353] 1s true true auth.dns.test"
	f("mail { auth_http auth.dns.test; resolver 127.0.0.1:5353; resolver_timeout 1s; "+srv+" }", ``, known)
	f("mail { resolver 127.0.0.1:5353; resolver_timeout 1s; auth_http auth.dns.test; "+srv+" }", ``, known)
	f("mail { auth_http auth.dns.test; resolver 127.0.0.1:5353 ipv6=off; "+srv+" }", ``,
		"[127.0.0.1:5353] 30s true false auth.dns.test")
	f("mail { auth_http auth.dns.test;\n"+srv+" }", `host not found in auth_http "auth.dns.test" in FILE:1`)
	f("mail { auth_http other.dns.test; resolver 127.0.0.1:5353; resolver_timeout 1s;\n"+srv+" }",
		`host not found in auth_http "other.dns.test" in FILE:1`, "[127.0.0.1:5353] 1s true true other.dns.test")
	f("mail { auth_http auth.dns.test; resolver 127.0.0.2:5353;\n"+srv+" }",
		`host not found in auth_http "auth.dns.test" in FILE:1`, "[127.0.0.2:5353] 30s true true auth.dns.test")
	// mail{} without a resolver, its server{} with one: the server's name
	// is fine, mail{}'s own line is checked where it is written.
	f("mail {\n server { listen 127.0.0.1:1143; protocol imap; auth_http auth.dns.test; resolver 127.0.0.1:5353; } }", ``,
		"[127.0.0.1:5353] 30s true true auth.dns.test")
	f("mail {\n auth_http auth.dns.test;\n server { listen 127.0.0.1:1143; protocol imap; resolver 127.0.0.1:5353; } }",
		`host not found in auth_http "auth.dns.test" in FILE:2`)
	// Names the system's resolver knows are not asked of the resolver; a
	// name is asked once per load however many servers inherit it.
	f("mail { auth_http auth.example; resolver 127.0.0.1:5353; "+srv+" }", ``)
	f("mail { auth_http auth.dns.test; resolver 127.0.0.1:5353; "+srv+" server { listen 127.0.0.1:1144; protocol imap; } }", ``,
		"[127.0.0.1:5353] 30s true true auth.dns.test")
}

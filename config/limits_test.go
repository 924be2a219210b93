package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestLimitsAccessOrderAndInheritance(t *testing.T) {
	s := testServer(t, "allow 192.0.2.0/24; deny all;", "")
	if got := accessText(s.Access); got != "allow 192.0.2.0/24,deny all" {
		t.Fatalf("inherited: %s", got)
	}
	// A server's own allow drops mail's whole list, deny included.
	s = testServer(t, "allow 192.0.2.0/24; deny all;", "allow 10.0.0.1;")
	if got := accessText(s.Access); got != "allow 10.0.0.1/32" {
		t.Fatalf("own list: %s", got)
	}
	s = testServer(t, "", "deny 2001:db8::/32; allow unix:; allow ::ffff:10.0.0.0/104; deny all;")
	if got := accessText(s.Access); got != "deny 2001:db8::/32,allow unix:,allow 10.0.0.0/8,deny all" {
		t.Fatalf("mixed: %s", got)
	}
}

func accessText(rs []AccessRule) string {
	var b []string
	for _, r := range rs {
		b = append(b, r.String())
	}
	return strings.Join(b, ",")
}

func TestLimitsValues(t *testing.T) {
	s := testServer(t, "limit_conn_per_ip 5; limit_rate_per_ip 30r/m; limit_ipv6_prefix 56; limit_exempt 10.0.0.0/8 192.0.2.1;",
		"limit_auth_fail ip=10/10m login=30/1h ban=15m tarpit=500ms; limit_preauth 100;")
	if s.LimitConnPerIP != 5 || s.LimitRatePerIP != 0.5 || s.LimitRateBurst != 30 || s.LimitIPv6Prefix != 56 || s.LimitPreauth != 100 {
		t.Fatalf("got %+v", s)
	}
	want := AuthFailLimit{IP: 10, IPPeriod: 10 * time.Minute, Login: 30, LoginPeriod: time.Hour, Ban: 15 * time.Minute, Tarpit: 500 * time.Millisecond}
	if s.LimitAuthFail != want {
		t.Fatalf("limit_auth_fail: %+v", s.LimitAuthFail)
	}
	if len(s.LimitExempt) != 2 || s.LimitExempt[1] != netip.MustParsePrefix("192.0.2.1/32") {
		t.Fatalf("limit_exempt: %v", s.LimitExempt)
	}
	s = testServer(t, "", "limit_rate_per_ip 5r/s burst=20; limit_auth_fail login=3/1m;")
	if s.LimitRatePerIP != 5 || s.LimitRateBurst != 20 {
		t.Fatalf("rate: %+v", s)
	}
	if s.LimitAuthFail.Ban != 15*time.Minute || s.LimitAuthFail.Tarpit != 15*time.Second || s.LimitAuthFail.IP != 0 {
		t.Fatalf("defaults: %+v", s.LimitAuthFail)
	}
	// A server's own limit_auth_fail off drops the inherited one.
	s = testServer(t, "limit_auth_fail ip=1/1m;", "limit_auth_fail off;")
	if s.LimitAuthFail != (AuthFailLimit{}) {
		t.Fatalf("off: %+v", s.LimitAuthFail)
	}
}

func TestLimitsMailLevel(t *testing.T) {
	c := testOK(t, "mail {\nauth_http 127.0.0.1:9000/auth;\nlimit_preauth 1000; limit_store redis://127.0.0.1:6379/2; limit_table_size 5000;\n"+
		"server {\nlisten 127.0.0.1:1143;\nprotocol imap;\n}\nserver {\nlisten 127.0.0.1:1144;\nprotocol imap;\nlimit_preauth 10;\n}\n}\n")
	l := c.Limits
	if l.Preauth != 1000 || l.StoreAddr != "127.0.0.1:6379" || l.StoreDB != 2 || l.TableSize != 5000 {
		t.Fatalf("mail limits: %+v", l)
	}
	// mail's limit_preauth is the total, not each server's.
	if c.Mail.Servers[0].LimitPreauth != 0 || c.Mail.Servers[1].LimitPreauth != 10 {
		t.Fatalf("per server: %d %d", c.Mail.Servers[0].LimitPreauth, c.Mail.Servers[1].LimitPreauth)
	}
	c = testOK(t, "mail {\nauth_http 127.0.0.1:9000/auth;\nlimit_store off;\nserver {\nlisten 127.0.0.1:1143;\nprotocol imap;\n}\n}\n")
	if c.Limits.Store != "" || c.Limits.TableSize != 0 {
		t.Fatalf("defaults: %+v", c.Limits)
	}
}

func TestLimitsErrors(t *testing.T) {
	f := func(mailBody, body, want string) {
		t.Helper()
		src := "mail {\nauth_http 127.0.0.1:9000/auth;\n" + mailBody + "\nserver {\nlisten 127.0.0.1:1143;\nprotocol imap;\n" + body + "\n}\n}\n"
		_, err, path := testParse(t, src, nil)
		wantErr(t, err, path, want)
	}
	f("allow 10.0.0.256;", "", `invalid parameter "10.0.0.256" in FILE:3`)
	f("", "deny fe80::1%eth0;", `invalid parameter "fe80::1%eth0" in FILE:7`)
	f("allow 10.0.0.0/33;", "", `invalid parameter "10.0.0.0/33" in FILE:3`)
	f("allow;", "", `invalid number of arguments in "allow" directive in FILE:3`)
	f("limit_conn_per_ip x;", "", `"limit_conn_per_ip" directive invalid number in FILE:3`)
	f("limit_rate_per_ip 10r/h;", "", `invalid rate "10r/h" in FILE:3`)
	f("limit_rate_per_ip 0r/s;", "", `invalid rate "0r/s" in FILE:3`)
	f("limit_rate_per_ip 1r/s burst=0;", "", `invalid burst value "burst=0" in FILE:3`)
	f("limit_rate_per_ip 1r/s nodelay;", "", `invalid parameter "nodelay" in FILE:3`)
	f("limit_ipv6_prefix 129;", "", `"limit_ipv6_prefix" directive invalid value in FILE:3`)
	f("limit_preauth -1;", "", `"limit_preauth" directive invalid number in FILE:3`)
	f("limit_auth_fail ip=10;", "", `invalid parameter "ip=10" in FILE:3`)
	f("limit_auth_fail ip=0/1m;", "", `invalid parameter "ip=0/1m" in FILE:3`)
	f("limit_auth_fail ban=1m;", "", `"limit_auth_fail" directive needs ip= or login= in FILE:3`)
	f("limit_auth_fail ip=1/1m user=2/1m;", "", `invalid parameter "user=2/1m" in FILE:3`)
	f("limit_exempt 10.0.0.0/8 nope;", "", `invalid parameter "nope" in FILE:3`)
	f("limit_store memcache://127.0.0.1:11211;", "", `invalid value "memcache://127.0.0.1:11211" in "limit_store" directive, it must be "off" or "redis://HOST:PORT[/DB]" in FILE:3`)
	f("limit_store redis://127.0.0.1;", "", `invalid value "redis://127.0.0.1" in "limit_store" directive, it must be "off" or "redis://HOST:PORT[/DB]" in FILE:3`)
	f("limit_store redis://127.0.0.1:6379/x;", "", `invalid value "redis://127.0.0.1:6379/x" in "limit_store" directive, it must be "off" or "redis://HOST:PORT[/DB]" in FILE:3`)
	f("", "limit_store off;", `"limit_store" directive is not allowed here in FILE:7`)
	f("", "limit_table_size 10;", `"limit_table_size" directive is not allowed here in FILE:7`)
	f("limit_table_size 0;", "", `"limit_table_size" directive invalid number in FILE:3`)
	f("limit_conn_per_ip 1; limit_conn_per_ip 2;", "", `"limit_conn_per_ip" directive is duplicate in FILE:3`)
}

func TestLimitsLowBitsWarn(t *testing.T) {
	c := testOK(t, "mail {\nauth_http 127.0.0.1:9000/auth;\nallow 10.1.2.3/8;\nserver {\nlisten 127.0.0.1:1143;\nprotocol imap;\n}\n}\n")
	if len(c.Notices) == 0 || !strings.HasPrefix(c.Notices[0].Msg, "low address bits of 10.1.2.3/8 are meaningless") {
		t.Fatalf("notices: %+v", c.Notices)
	}
	if got := accessText(c.Mail.Servers[0].Access); got != "allow 10.0.0.0/8" {
		t.Fatalf("masked: %s", got)
	}
}

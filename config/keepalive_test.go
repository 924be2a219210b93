package config

import (
	"strings"
	"testing"
)

// TestSoKeepaliveDirective: the legacy directive is accepted in mail and
// server, inherited, overridden per server, with one notice per
// occurrence naming the listen parameter; a bad value is nginx's flag
// error.
func TestSoKeepaliveDirective(t *testing.T) {
	c := testOK(t, `mail { auth_http 127.0.0.1:9; so_keepalive on;
		server { listen 127.0.0.1:1143; protocol imap; }
		server { listen 127.0.0.1:1144; protocol imap; so_keepalive off; } }`)
	s := c.Mail.Servers
	if !s[0].SoKeepalive || s[1].SoKeepalive {
		t.Fatalf("so_keepalive: %v %v", s[0].SoKeepalive, s[1].SoKeepalive)
	}
	var n []string
	for _, x := range c.Notices {
		if strings.Contains(x.Msg, "so_keepalive") {
			n = append(n, x.Level+": "+x.Msg)
		}
	}
	if len(n) != 2 || !strings.Contains(n[0], `notice: "so_keepalive" directive is a legacy form`) ||
		!strings.Contains(n[0], `"listen ... so_keepalive=on"`) || !strings.Contains(n[1], `"listen ... so_keepalive=off"`) {
		t.Fatalf("notices: %q", n)
	}
	_, err, path := testParse(t, "mail {\nauth_http 127.0.0.1:9;\nso_keepalive yes;\n}\n", nil)
	wantErr(t, err, path, `invalid value "yes" in "so_keepalive" directive, it must be "on" or "off" in FILE:3`)
}

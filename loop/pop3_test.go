package loop

import (
	"testing"

	"mailproxy/config"
)

func TestPOP3Replies(t *testing.T) {
	f := func(auth config.AuthMethods, caps []string, capa, authList string, salted bool) {
		t.Helper()
		pc := newPOP3Conf(&config.Server{POP3Auth: auth, POP3Capabilities: caps})
		if string(pc.capa) != capa {
			t.Fatalf("CAPA %q, want %q", pc.capa, capa)
		}
		if string(pc.authList) != authList {
			t.Fatalf("AUTH %q, want %q", pc.authList, authList)
		}
		if pc.salted != salted {
			t.Fatalf("salted %v, want %v", pc.salted, salted)
		}
	}
	def := []string{"TOP", "USER", "UIDL"}
	f(config.AuthPlain, def, "+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN\r\n.\r\n", "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\n.\r\n", false)
	f(config.AuthExternal|config.AuthCramMD5|config.AuthAPOP|config.AuthPlain, def, "+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN CRAM-MD5 EXTERNAL\r\n.\r\n", "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\nEXTERNAL\r\n.\r\n", true)
	f(config.AuthAPOP, nil, "+OK Capability list follows\r\nSASL\r\n.\r\n", "+OK methods supported:\r\n.\r\n", true)
	f(config.AuthExternal, []string{"UIDL"}, "+OK Capability list follows\r\nUIDL\r\nSASL EXTERNAL\r\n.\r\n", "+OK methods supported:\r\nEXTERNAL\r\n.\r\n", false)
}

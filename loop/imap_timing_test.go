package loop

import (
	"testing"

	"mailproxy/config"
)

// BenchmarkIMAPPreAuth parses and answers CAPABILITY, NOOP, ID and a bad
// command: the IMAP pre-auth hot path, which must not allocate.
func BenchmarkIMAPPreAuth(b *testing.B) {
	cfg := &config.Server{Protocol: config.IMAP, IMAPAuth: config.AuthPlain | config.AuthLogin,
		IMAPCapabilities: []string{"IMAP4", "IMAP4rev1", "UIDPLUS"}, IMAPClientBuffer: 4096,
		MaxErrors: 1 << 30, Timeout: 60e9, ServerName: "mx.test"}
	conn := &pop3BenchConn{in: []byte("a1 CAPABILITY\r\na2 NOOP\r\na3 ID NIL\r\na4 FOO\r\n")}
	ops := imapOpsFor(cfg)
	s := pop3BenchSession("bench-imap", cfg, ops, conn)
	ops.greeting(s)
	b.ReportAllocs()
	b.SetBytes(int64(len(conn.in)))
	for b.Loop() {
		conn.off = 0
		ops.clientData(s)
	}
	if conn.out == 0 || s.closed {
		b.Fatal("no replies written, or the session closed")
	}
}

// TestIMAPCapsOrder checks the CAPABILITY line keeps nginx's fixed AUTH=
// order whatever the config order.
func TestIMAPCapsOrder(t *testing.T) {
	f := func(auth config.AuthMethods, caps []string, want string) {
		t.Helper()
		got := string(newIMAPConf(&config.Server{IMAPAuth: auth, IMAPCapabilities: caps}).line)
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	f(config.AuthPlain, []string{"IMAP4", "IMAP4rev1", "UIDPLUS"}, "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=PLAIN\r\n")
	f(config.AuthExternal|config.AuthCramMD5|config.AuthLogin|config.AuthPlain, []string{"IMAP4rev1"}, "* CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=EXTERNAL\r\n")
	f(config.AuthLogin, []string{"IMAP4rev1", "IDLE"}, "* CAPABILITY IMAP4rev1 IDLE SASL-IR LITERAL+ AUTH=LOGIN\r\n")
}

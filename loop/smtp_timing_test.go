package loop

import (
	"testing"

	"mailproxy/config"
)

// BenchmarkSMTPPreAuth parses and answers EHLO, NOOP, RSET and a refused
// MAIL: the pre-auth hot path, which must not allocate.
func BenchmarkSMTPPreAuth(b *testing.B) {
	cfg := &config.Server{Protocol: config.SMTP, SMTPAuth: config.AuthPlain | config.AuthLogin,
		SMTPCapabilities: []string{"PIPELINING", "SIZE 10485760"}, SMTPClientBuffer: 4096,
		MaxErrors: 5, Timeout: 60e9, ServerName: "mx.test"}
	ops, err := smtpOpsFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	conn := &pop3BenchConn{in: []byte("EHLO client.example.org\r\nNOOP\r\nRSET\r\nVRFY x\r\n")}
	s := pop3BenchSession("bench-smtp", cfg, ops, conn)
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

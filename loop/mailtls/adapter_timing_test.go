package mailtls

import (
	"crypto/tls"
	"testing"
)

// BenchmarkTLSHandshake is one full TLS 1.3 handshake through two
// adapters over memory (both sides' CPU, ECDSA P-256).
func BenchmarkTLSHandshake(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		tlsPair(b, tls.VersionTLS13)
	}
}

// BenchmarkTLSDataRead is the data-phase read of one 1 KiB record on the
// loop, as the relay does it.
func BenchmarkTLSDataRead(b *testing.B) {
	srv, cli, srvRaw, cliRaw := tlsPair(b, tls.VersionTLS13)
	msg := make([]byte, 1024)
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = cli.Write(msg)
		srvRaw.in.Write(cliRaw.out.Bytes())
		cliRaw.out.Reset()
		if n, err := srv.Read(buf); n != len(msg) || err != nil {
			b.Fatalf("read %d, %v", n, err)
		}
	}
}

package codec

import (
	"testing"

	"mailproxy/config"
)

func BenchmarkAppendAuthHeaders(b *testing.B) {
	r := &AuthRequest{
		Method: "plain", User: []byte("user@example.org"), Pass: []byte("pass word%"), Protocol: "imap",
		Attempt: 1, ClientIP: "192.0.2.1", ClientPort: 40000,
	}
	extra := []config.Header{{Name: "X-Secret", Value: "s3 cret"}}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAuthHeaders(buf[:0], r, extra)
	}
}

func BenchmarkParseAuthResponse(b *testing.B) {
	in := []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAuth-Status: OK\r\n" +
		"Auth-Server: 10.0.0.7\r\nAuth-Port: 143\r\nAuth-User: user@example.org\r\nAuth-Pass: secret\r\n\r\n")
	var r AuthResponse
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if err := ParseAuthResponse(in, &r); err != nil {
			b.Fatal(err)
		}
	}
}

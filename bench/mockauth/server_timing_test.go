package mockauth

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// BenchmarkAnswerKeepAlive: parse one HTTP/1.1 auth request and write the
// pre-built OK reply, as on a fasthttp keepalive connection.
func BenchmarkAnswerKeepAlive(b *testing.B) {
	s, err := New(Config{Passwords: []string{"pass"}, Backends: map[string]string{"imap": "127.0.0.1:143"}})
	if err != nil {
		b.Fatal(err)
	}
	req := []byte("GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\nAuth-Method: plain\r\nAuth-User: user%40example.com\r\n" +
		"Auth-Pass: pass\r\nAuth-Protocol: imap\r\nAuth-Login-Attempt: 1\r\nClient-IP: 127.0.0.1\r\n\r\n")
	src := bytes.NewReader(req)
	c := &authConnBufs{r: bufio.NewReaderSize(src, authReqMax), w: bufio.NewWriterSize(io.Discard, 2048)}
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for i := 0; i < b.N; i++ {
		src.Reset(req)
		c.r.Reset(src)
		if err := readAuthRequest(c.r, &c.q); err != nil {
			b.Fatal(err)
		}
		s.answer(c)
	}
}

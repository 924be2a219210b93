package codec

import (
	"bytes"
	"testing"
)

// FuzzAuthResponse checks ParseAuthResponse never panics, never aliases its
// input, ignores what follows the header block, and that a response which
// parses keeps its meaning when re-parsed with a reused AuthResponse.
func FuzzAuthResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\n\r\n"))
	f.Add([]byte("Auth-Status: Invalid login\nAuth-Wait: 3\n\n"))
	f.Add([]byte("HTTP/1.1 500 x\r\nAuth-Status: WAIT\r\nAuth-User: u\r\nAuth-Pass: p\r\nAuth-Error-Code: 451 4.3.0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\rX"))
	f.Add([]byte("Auth_Status: OK\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r1, r2 AuthResponse
		in := bytes.Clone(b)
		err1 := ParseAuthResponse(in, &r1)
		for i := range in {
			in[i] ^= 0xff // values must not alias the input
		}
		if err1 != nil {
			return
		}
		if r1.OK && r1.Wait {
			t.Fatalf("OK and Wait both set: %+v", r1)
		}
		if len(b) > AuthMaxResponse && bytes.Index(b, []byte("\n")) < 0 {
			t.Fatalf("accepted %d bytes without a line end", len(b))
		}
		// trailing bytes after a complete block do not matter
		if err := ParseAuthResponse(append(bytes.Clone(b[:min(len(b), AuthMaxResponse)]), "trailing"...), &r2); err != nil {
			t.Fatalf("re-parse with a trailer: %v", err)
		}
		if authRender(&r1) != authRender(&r2) {
			t.Fatalf("re-parse differs:\n%s\n%s", authRender(&r1), authRender(&r2))
		}
	})
}

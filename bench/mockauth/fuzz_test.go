package mockauth

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzReadAuthRequest: no panic, and a request that parses once parses the
// same way when read through a tiny buffer boundary (bufio refills).
func FuzzReadAuthRequest(f *testing.F) {
	f.Add([]byte("GET /auth HTTP/1.0\r\nHost: x\r\nAuth-User: a%20b\r\nAuth-Pass: p\r\nAuth-Protocol: imap\r\n\r\n"))
	f.Add([]byte("GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\nAuth-Method:plain\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var q1, q2 authRequest
		err1 := readAuthRequest(bufio.NewReaderSize(bytes.NewReader(in), authReqMax), &q1)
		err2 := readAuthRequest(bufio.NewReaderSize(&oneByteReader{in}, authReqMax), &q2)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("whole err %v, byte by byte err %v", err1, err2)
		}
		if err1 == nil && (!bytes.Equal(q1.user, q2.user) || !bytes.Equal(q1.pass, q2.pass) ||
			q1.keepAlive != q2.keepAlive || !bytes.Equal(q1.protocol, q2.protocol)) {
			t.Fatalf("whole %+v, byte by byte %+v", q1, q2)
		}
	})
}

type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, bytes.ErrTooLarge // any error ends the read
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

package mockbackend

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// BenchmarkIMAPLiteralLogin: nginx's three-part literal LOGIN through the
// command reader and executor (continuations go to a discarding writer).
func BenchmarkIMAPLiteralLogin(b *testing.B) {
	s := New(Config{})
	in := []byte("a1 LOGIN {16}\r\nuser@example.com {6}\r\nsecret\r\n")
	src := bytes.NewReader(in)
	m := &mbConn{r: bufio.NewReaderSize(src, 4096), w: bufio.NewWriterSize(io.Discard, 4096)}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		src.Reset(in)
		m.r.Reset(src)
		if err := s.imapReadCommand(m); err != nil {
			b.Fatal(err)
		}
		if err := s.imapExec(m); err != nil {
			b.Fatal(err)
		}
	}
}

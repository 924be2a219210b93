package mockbackend

import (
	"bytes"
	"testing"
)

func TestMessageExactSizeAndShape(t *testing.T) {
	for size := 0; size < 700; size++ {
		checkMessage(t, size)
	}
	checkMessage(t, 1<<20)
}

func checkMessage(t *testing.T, size int) {
	t.Helper()
	m := Message(size)
	min := len(msgHeadA) + len(msgHeadB)
	if want := max(size, min); len(m) != want {
		t.Fatalf("size %d: got %d bytes", size, len(m))
	}
	if !bytes.HasSuffix(m, []byte("\r\n")) || !bytes.Contains(m, []byte("\r\n\r\n")) {
		t.Fatalf("size %d: bad shape %q", size, m)
	}
	for _, l := range bytes.Split(m[:len(m)-2], []byte("\r\n")) {
		if len(l) > 78 || bytes.HasPrefix(l, []byte(".")) || bytes.IndexByte(l, '\r') >= 0 || bytes.IndexByte(l, '\n') >= 0 {
			t.Fatalf("size %d: bad line %q", size, l)
		}
	}
}

package mockbackend

import "testing"

// FuzzLiteralSuffix: no panic, n within bounds, n is 0 unless ok.
func FuzzLiteralSuffix(f *testing.F) {
	f.Add([]byte("a1 LOGIN {16}\r\n"))
	f.Add([]byte("{5+}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		n, _, ok := literalSuffix(in)
		if n < 0 || n > imapLiteralMax || (!ok && n != 0) {
			t.Fatalf("%q: n=%d ok=%v", in, n, ok)
		}
	})
}

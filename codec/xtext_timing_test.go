package codec

import "testing"

func BenchmarkAppendXtext(b *testing.B) {
	dst := make([]byte, 0, 128)
	src := []byte("first.last+tag=x@example.org")
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		dst = AppendXtext(dst[:0], src)
	}
}

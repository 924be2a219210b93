package codec

import "testing"

func BenchmarkDecodePlain(b *testing.B) {
	msg := AppendBase64(nil, []byte("\x00user@example.com\x00secret-password"))
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, ok := DecodePlain(dst[:0], msg); !ok {
			b.Fatal("DecodePlain failed")
		}
	}
}

func BenchmarkDecodeCramMD5(b *testing.B) {
	msg := AppendBase64(nil, []byte("user@example.com 0123456789abcdef0123456789abcdef"))
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, ok := DecodeCramMD5(dst[:0], msg); !ok {
			b.Fatal("DecodeCramMD5 failed")
		}
	}
}

func BenchmarkAppendSalt(b *testing.B) {
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendSalt(dst[:0], 1845796265, 1795628887, "mx.example.com")
	}
}

func BenchmarkParseSASLMech(b *testing.B) {
	name := []byte("cram-md5")
	b.ReportAllocs()
	for b.Loop() {
		if ParseSASLMech(name) != SASLCramMD5 {
			b.Fatal("wrong mechanism")
		}
	}
}

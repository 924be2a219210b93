package codec

import "testing"

func benchmarkIMAP(b *testing.B, in string) {
	buf := []byte(in)
	var p IMAPParser
	var cmd IMAPCommand
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		res, n := p.Parse(buf, 4096, &cmd)
		for res == Continue {
			res, n = p.Parse(buf, 4096, &cmd)
		}
		if res != Done || n != len(buf) {
			b.Fatalf("Parse(%q) = %d, %d", in, res, n)
		}
	}
}

func BenchmarkIMAPLogin(b *testing.B) { benchmarkIMAP(b, "a1 LOGIN user pass\r\n") }

func BenchmarkIMAPLoginLiteral(b *testing.B) {
	benchmarkIMAP(b, "a1 LOGIN {16}\r\nuser@example.com {6}\r\nsecret\r\n")
}

func BenchmarkIMAPLoginQuotedEscape(b *testing.B) {
	benchmarkIMAP(b, "a1 LOGIN \"user@example.com\" \"se\\\"cret\"\r\n")
}

func BenchmarkIMAPCapability(b *testing.B) { benchmarkIMAP(b, "a1 CAPABILITY\r\n") }

func BenchmarkIMAPID(b *testing.B) {
	benchmarkIMAP(b, "a1 ID (\"name\" \"Thunderbird\" \"version\" \"115.3.1\" \"os\" NIL)\r\n")
}

// BenchmarkIMAPLoginByteByByte is the worst case for resumption: one call
// per byte received.
func BenchmarkIMAPLoginByteByByte(b *testing.B) {
	buf := []byte("a1 LOGIN user pass\r\n")
	var p IMAPParser
	var cmd IMAPCommand
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		for i := 1; i <= len(buf); i++ {
			if res, _ := p.Parse(buf[:i], 4096, &cmd); res == Done {
				break
			}
		}
	}
}

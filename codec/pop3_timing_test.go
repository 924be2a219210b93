package codec

import "testing"

func BenchmarkParsePOP3(b *testing.B) {
	in := []byte("USER bob@example.org\r\nPASS correct horse battery\r\nAPOP bob c4c9334bac560ecc979e58001b3e22fb\r\nQUIT\r\n")
	var cmd POP3Command
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		buf := in
		for len(buf) > 0 {
			res, n := ParsePOP3(buf, 128, &cmd)
			if res != Done {
				b.Fatalf("res %d at %q", res, buf)
			}
			buf = buf[n:]
		}
	}
}

func BenchmarkParsePOP3NeedMore(b *testing.B) {
	in := []byte("PASS " + string(make([]byte, 100)))
	var cmd POP3Command
	b.ReportAllocs()
	for b.Loop() {
		if res, _ := ParsePOP3(in, 128, &cmd); res != NeedMore {
			b.Fatal(res)
		}
	}
}

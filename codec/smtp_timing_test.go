package codec

import "testing"

func BenchmarkParseSMTP(b *testing.B) {
	in := []byte("EHLO client.example.org\r\nMAIL FROM:<sender@example.org> SIZE=1000 BODY=8BITMIME\r\nRCPT TO:<rcpt@example.net>\r\nQUIT\r\n")
	var cmd SMTPCommand
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		buf := in
		for len(buf) > 0 {
			res, n := ParseSMTP(buf, 4096, &cmd)
			if res != Done {
				b.Fatalf("res %d at %q", res, buf)
			}
			buf = buf[n:]
		}
	}
}

func BenchmarkParseSMTPReply(b *testing.B) {
	in := []byte("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 XCLIENT ADDR LOGIN NAME\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if code, _, res := ParseSMTPReply(in, 4096); res != Done || code != 250 {
			b.Fatal(code, res)
		}
	}
}

func BenchmarkAppendXClient(b *testing.B) {
	dst := make([]byte, 0, 256)
	login := []byte("jürgen+mail@example.org")
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendXClient(dst[:0], "2001:db8::5", login, "[UNAVAILABLE]")
	}
}

func BenchmarkAppendSMTPAuthPlain(b *testing.B) {
	dst := make([]byte, 0, 256)
	user, pass := []byte("bob@example.org"), []byte("correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendSMTPAuthPlain(dst[:0], user, pass)
	}
}

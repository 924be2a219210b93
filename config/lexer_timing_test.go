package config

import (
	"strings"
	"testing"
)

// benchConf is a realistic config of a few dozen lines.
var benchConf = []byte(strings.Repeat(`
# a comment line
mail {
    server_name mx.example.com;
    auth_http 127.0.0.1:9000/auth;
    auth_http_header X-Auth-Key "secret value";
    imap_capabilities IMAP4rev1 UIDPLUS ID IDLE "AUTH=PLAIN";
    server { listen 127.0.0.1:1143; protocol imap; timeout 5m; }
}
`, 4))

func BenchmarkLexer(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchConf)))
	for b.Loop() {
		lx := newLexer("bench.conf", benchConf)
		for {
			_, t, err := lx.next()
			if err != nil || t == termEOF {
				break
			}
		}
	}
}

func BenchmarkParse(b *testing.B) {
	src := []byte("events { worker_connections 1024; }\nmail {\n auth_http 127.0.0.1:9000/auth;\n imap_capabilities IMAP4rev1 ID;\n" +
		" server { listen 127.0.0.1:1143; protocol imap; }\n server { listen 127.0.0.1:1110; protocol pop3; }\n" +
		" server { listen 127.0.0.1:1025; protocol smtp; smtp_auth none; }\n}\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := loadParser("/nonexistent/bench.conf", src, testLookup); err != nil {
			b.Fatal(err)
		}
	}
}

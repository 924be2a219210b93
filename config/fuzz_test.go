package config

import (
	"strings"
	"testing"
)

// FuzzLexer: no panic, the lexer always ends (each call consumes input or
// returns EOF or an error), and lines never go backwards.
func FuzzLexer(f *testing.F) {
	for _, s := range []string{"a;", "mail { server { listen 143; } }", `a "b\"c" 'd' e\ f;`, "a # c\n b;", "a \"b", "}", "${x}{", `a "b")c;`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		lx := newLexer("f", []byte(src))
		line := 1
		for i := 0; i <= len(src)+1; i++ {
			pos := lx.pos
			_, term, err := lx.next()
			if lx.line < line {
				t.Fatalf("line went back")
			}
			line = lx.line
			if err != nil || term == termEOF {
				return
			}
			if term != termBlockDone && lx.pos == pos {
				t.Fatalf("no progress at %d", pos)
			}
		}
		t.Fatalf("lexer did not end")
	})
}

// FuzzParse: no panic on any config text (names resolve offline).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"mail { auth_http 127.0.0.1:9/a; server { listen 127.0.0.1:1143; protocol imap; } }",
		"events { worker_connections 10; } worker_processes auto; error_log stderr info;",
		"mail { imap_capabilities A B; server { listen 143 backlog=5 so_keepalive=1m:5:3; } }",
		"admin { listen 127.0.0.1:9145; }",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if strings.Contains(src, "include") {
			return // would read arbitrary files (include /dev/zero)
		}
		_, _ = loadParser("/nonexistent/fuzz.conf", []byte(src), testLookup)
	})
}

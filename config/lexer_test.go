package config

import (
	"strings"
	"testing"
)

// lexAll returns the directives of src as "word|word|...;" or "...{" or
// "}" per directive, joined by spaces, or the error text.
func lexAll(src string) string {
	lx := newLexer("f", []byte(src))
	var out []string
	for {
		args, t, err := lx.next()
		if err != nil {
			return "ERR " + err.Error()
		}
		switch t {
		case termEOF:
			return strings.Join(out, " ")
		case termBlockDone:
			out = append(out, "}")
		case termSemi:
			out = append(out, strings.Join(args, "|")+";")
		case termBlockStart:
			out = append(out, strings.Join(args, "|")+"{")
		}
	}
}

func TestLexer(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := lexAll(in); got != want {
			t.Fatalf("%q:\n got %q\nwant %q", in, got, want)
		}
	}
	f("", "")
	f("a;", "a;")
	f("a b  c ;", "a|b|c;")
	f("a\tb\r\nc;", "a|b|c;")
	f("mail { a b; }", "mail{ a|b; }")
	f("mail{a;}", "mail{ a; }")
	f(`a "b c";`, "a|b c;")
	f(`a 'b c';`, "a|b c;")
	f(`a "b;c{d}";`, "a|b;c{d};")
	f(`a "b\"c";`, `a|b"c;`)
	f(`a 'b\'c';`, `a|b'c;`)
	f(`a "b\\c";`, `a|b\c;`)
	f(`a "b\nc\td\re";`, "a|b\nc\td\re;")
	f(`a "b\xc";`, `a|b\xc;`)
	f(`a b\ c;`, `a|b\ c;`)
	f(`a b\;c;`, `a|b\;c;`)
	f(`a "";`, "a|;")
	f("a # comment ; {\n b;", "a|b;")
	f("# only\n", "")
	f("a b#c;", "a|b#c;")
	f("a b};", "a|b};")
	f("a ${x}y;", "a|${x}y;")
	f(`a "b"{ }`, "a|b{ }")
	f(`a "b")c;`, "a|b|)c;")
	f(`a "b"x;`, `ERR unexpected "x" in f:1`)
	f("a \"b\n\nc", `ERR unexpected end of file, expecting ";" or "}" in f:3`)
	f("a 'b", `ERR unexpected end of file, expecting ";" or "}" in f:1`)
	f("a", `ERR unexpected end of file, expecting ";" or "}" in f:1`)
	f("a\n", `ERR unexpected end of file, expecting ";" or "}" in f:2`)
	f(";", `ERR unexpected ";" in f:1`)
	f("\n\n{", `ERR unexpected "{" in f:3`)
	f("a }", `ERR unexpected "}" in f:1`)
	f("}", "}")
}

// TestLexerLines checks the line nginx reports: the line of the ";".
func TestLexerLines(t *testing.T) {
	f := func(in string, want ...int) {
		t.Helper()
		lx := newLexer("f", []byte(in))
		var got []int
		for {
			_, term, err := lx.next()
			if err != nil || term == termEOF {
				break
			}
			got = append(got, lx.line)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: lines %v, want %v", in, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%q: lines %v, want %v", in, got, want)
			}
		}
	}
	f("a;\nb;\n\nc;", 1, 2, 4)
	f("a\n b\n ;", 3)
	f("# x\n# y\na;", 3)
	f("a \"x\ny\";b;", 2, 2)
}

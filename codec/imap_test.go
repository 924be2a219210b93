package codec

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

var imapTestNames = [...]string{
	IMAPUnknown: "UNKNOWN", IMAPCapability: "CAPABILITY", IMAPNoop: "NOOP",
	IMAPLogout: "LOGOUT", IMAPLogin: "LOGIN", IMAPAuthenticate: "AUTHENTICATE",
	IMAPStarttls: "STARTTLS", IMAPID: "ID",
}

// imapRender writes one parse event: `OK tag CMD "arg"...`, `+`, or
// `BAD tag|*[ close]`.
func imapRender(res Result, cmd *IMAPCommand) string {
	switch res {
	case Continue:
		return "+"
	case Done:
		var b strings.Builder
		fmt.Fprintf(&b, "OK %s %s", cmd.Tag, imapTestNames[cmd.Cmd])
		for _, a := range cmd.Args[:cmd.NArgs] {
			fmt.Fprintf(&b, " %q", a)
		}
		if cmd.BadTag || cmd.Close {
			b.WriteString(" BUG-flags")
		}
		return b.String()
	case Invalid:
		s := "BAD " + string(cmd.Tag)
		if cmd.BadTag {
			s = "BAD *"
			if cmd.Tag != nil {
				s += " BUG-tag"
			}
		}
		if cmd.Close {
			s += " close"
		}
		return s
	}
	return fmt.Sprintf("result %d", res)
}

// imapEvents feeds in to a parser in chunks chosen by split, answering every
// Continue, and returns the events joined by " | ", with "more" when bytes
// are left unparsed at the end. Each chunk is appended to a fresh copy of
// the buffer so that a parser keeping pointers into old bytes would show.
func imapEvents(t testing.TB, in []byte, limit int, split func(left int) int) string {
	t.Helper()
	var p IMAPParser
	var cmd IMAPCommand
	var buf []byte
	var ev []string
	maxSteps := 4*len(in) + 10
	for steps := 0; ; steps++ {
		if steps > maxSteps {
			t.Fatalf("parser loops on %q", in)
		}
		res, n := p.Parse(buf, limit, &cmd)
		if n < 0 || n > len(buf) {
			t.Fatalf("consumed %d of %d on %q", n, len(buf), in)
		}
		if (res == NeedMore || res == Continue) && n != 0 {
			t.Fatalf("consumed %d with result %d on %q", n, res, in)
		}
		switch res {
		case NeedMore:
			if len(in) == 0 {
				if len(buf) > 0 {
					ev = append(ev, "more")
				}
				return strings.Join(ev, " | ")
			}
			k := split(len(in))
			nb := make([]byte, len(buf)+k)
			copy(nb, buf)
			copy(nb[len(buf):], in[:k])
			buf, in = nb, in[k:]
			continue
		case Done, Invalid:
			if n == 0 {
				t.Fatalf("result %d consumed nothing on %q", res, in)
			}
		}
		ev = append(ev, imapRender(res, &cmd))
		if res == Invalid && cmd.Close {
			return strings.Join(ev, " | ")
		}
		buf = buf[n:]
	}
}

func imapWhole(left int) int { return left }
func imapByByte(int) int     { return 1 }

func imapCheck(t *testing.T, limit int, in, want string) {
	t.Helper()
	got := imapEvents(t, []byte(in), limit, imapWhole)
	if got != want {
		t.Errorf("Parse(%q, limit %d)\n got  %s\n want %s", in, limit, got, want)
	}
	if got := imapEvents(t, []byte(in), limit, imapByByte); got != want {
		t.Errorf("Parse(%q, limit %d) byte by byte\n got  %s\n want %s", in, limit, got, want)
	}
	r := rand.New(rand.NewPCG(uint64(len(in)), 7))
	split := func(left int) int { return 1 + r.IntN(left) }
	if got := imapEvents(t, []byte(in), limit, split); got != want {
		t.Errorf("Parse(%q, limit %d) split at random\n got  %s\n want %s", in, limit, got, want)
	}
}

func TestIMAPCommands(t *testing.T) {
	f := func(in, want string) { t.Helper(); imapCheck(t, 4096, in, want) }
	f("a1 CAPABILITY\r\n", `OK a1 CAPABILITY`)
	f("a1 NOOP\r\n", `OK a1 NOOP`)
	f("a1 LOGOUT\r\n", `OK a1 LOGOUT`)
	f("a1 STARTTLS\r\n", `OK a1 STARTTLS`)
	f("a1 LOGIN user pass\r\n", `OK a1 LOGIN "user" "pass"`)
	f("a1 AUTHENTICATE PLAIN\r\n", `OK a1 AUTHENTICATE "PLAIN"`)
	f("a1 AUTHENTICATE PLAIN AHUAcA==\r\n", `OK a1 AUTHENTICATE "PLAIN" "AHUAcA=="`)
	f("a1 ID NIL\r\n", `OK a1 ID "NIL"`)
	// case folding
	f("a1 capability\r\n", `OK a1 CAPABILITY`)
	f("A1 LoGiN u p\r\n", `OK A1 LOGIN "u" "p"`)
	f("a1 starttls\r\n", `OK a1 STARTTLS`)
	f("a1 aUTHENTICATE plain\r\n", `OK a1 AUTHENTICATE "plain"`)
	f("a1 noop\r\n", `OK a1 NOOP`)
	f("a1 Logout\r\n", `OK a1 LOGOUT`)
	f("a1 id nil\r\n", `OK a1 ID "nil"`)
	// nginx 1.22 ignores arguments of CAPABILITY, NOOP and LOGOUT (verified);
	// they are returned for the engine to decide.
	f("a1 CAPABILITY x\r\n", `OK a1 CAPABILITY "x"`)
	f("a1 NOOP a b c\r\n", `OK a1 NOOP "a" "b" "c"`)
	// LOGIN and AUTHENTICATE come back with any count: the engine checks it
	f("a1 LOGIN\r\n", `OK a1 LOGIN`)
	f("a1 LOGIN a\r\n", `OK a1 LOGIN "a"`)
	f("a1 LOGIN a b c\r\n", `OK a1 LOGIN "a" "b" "c"`)
	// unknown commands keep their tag
	f("a1 SELECT INBOX\r\n", `BAD a1`)
	f("a1 ENABLE UTF8=ACCEPT\r\n", `BAD a1`)
	f("a1 NOOPX\r\n", `BAD a1`)
	f("a1 NO1OP\r\n", `BAD a1`)
	f("a1 LOGIN1 u p\r\n", `BAD a1`)
	f("a1 AUTHENTICATEX PLAIN\r\n", `BAD a1`)
	f("a1 X-FOO\r\n", `BAD a1`)
	// spaces, as tolerant as nginx
	f("a1  NOOP \r\n", `OK a1 NOOP`)
	f("a1 LOGIN  u   p  \r\n", `OK a1 LOGIN "u" "p"`)
	f("a1 NOOP\t\r\n", `BAD a1`)
}

func TestIMAPTags(t *testing.T) {
	f := func(in, want string) { t.Helper(); imapCheck(t, 4096, in, want) }
	f("a.b-c_D9 NOOP\r\n", `OK a.b-c_D9 NOOP`)
	f(strings.Repeat("t", 32)+" NOOP\r\n", `OK `+strings.Repeat("t", 32)+` NOOP`)
	f(strings.Repeat("t", 33)+" NOOP\r\n", `BAD *`)
	f("a!1 NOOP\r\n", `BAD *`)
	f("a*1 NOOP\r\n", `BAD *`)
	f("a+1 NOOP\r\n", `BAD *`)
	f("\"a\" NOOP\r\n", `BAD *`)
	f(" NOOP\r\n", `BAD *`)
	f("\r\n", `BAD *`)
	f("\n", `BAD *`)
	f("a1\r\n", `BAD *`)
	// nginx 1.22 answers a tag and a space with a tagged BAD (verified)
	f("a1 \r\n", `BAD a1`)
	f("a1   \n", `BAD a1`)
	f("a1 1NOOP\r\n", `BAD a1`)
}

func TestIMAPQuoted(t *testing.T) {
	f := func(in, want string) { t.Helper(); imapCheck(t, 4096, in, want) }
	f(`a1 LOGIN "us er" "p\"w\\d"`+"\r\n", `OK a1 LOGIN "us er" "p\"w\\d"`)
	f(`a1 LOGIN "\\" "\""`+"\r\n", `OK a1 LOGIN "\\" "\""`)
	f(`a1 LOGIN "a\\b" plain "c\"d"`+"\r\n", `OK a1 LOGIN "a\\b" "plain" "c\"d"`)
	f(`a1 LOGIN "" ""`+"\r\n", `OK a1 LOGIN "" ""`)
	f(`a1 LOGIN "(){}%*]" p`+"\r\n", `OK a1 LOGIN "(){}%*]" "p"`)
	f("a1 LOGIN \"j\xc3\xb6rg\" p\r\n", `OK a1 LOGIN "jörg" "p"`)
	// only \" and \\ are escapes (RFC 3501 §9); nginx 1.22 takes any
	f(`a1 LOGIN "a\qb" p`+"\r\n", `BAD a1`)
	f(`a1 LOGIN "a\`+"\r\n", `BAD a1`)
	f(`a1 LOGIN "abc`+"\r\n", `BAD a1`)
	f("a1 LOGIN \"a\x00b\" p\r\n", `BAD a1`)
	f("a1 LOGIN \"a\rb\" p\r\n", `BAD a1`)
	f(`a1 LOGIN "a"b`+"\r\n", `BAD a1`)
	f(`a1 LOGIN "a""b"`+"\r\n", `BAD a1`)
}

func TestIMAPAtoms(t *testing.T) {
	f := func(in, want string) { t.Helper(); imapCheck(t, 4096, in, want) }
	f("a1 LOGIN u%*] p!#$&'+,-./:;<=>?@[^_`|~\r\n", "OK a1 LOGIN \"u%*]\" \"p!#$&'+,-./:;<=>?@[^_`|~\"")
	f("a1 LOGIN j\xc3\xb6rg p\r\n", `OK a1 LOGIN "jörg" "p"`)
	f("a1 LOGIN us(er p\r\n", `BAD a1`)
	f("a1 LOGIN u) p\r\n", `BAD a1`)
	f("a1 LOGIN u{1} p\r\n", `BAD a1`)
	f("a1 LOGIN u\\x p\r\n", `BAD a1`)
	f("a1 LOGIN u\"x p\r\n", `BAD a1`)
	f("a1 LOGIN u\x01 p\r\n", `BAD a1`)
	f("a1 LOGIN u\x7f p\r\n", `BAD a1`)
	f("a1 LOGIN (u) p\r\n", `BAD a1`)
}

func TestIMAPLiterals(t *testing.T) {
	f := func(in, want string) { t.Helper(); imapCheck(t, 4096, in, want) }
	f("a1 LOGIN {4}\r\nuser {4}\r\npass\r\n", `+ | + | OK a1 LOGIN "user" "pass"`)
	f("a1 LOGIN {4}\nuser {4}\npass\n", `+ | + | OK a1 LOGIN "user" "pass"`)
	f("a1 LOGIN {4+}\r\nuser {4+}\r\npass\r\n", `OK a1 LOGIN "user" "pass"`)
	f("a1 LOGIN u {4}\r\na\r\nb\r\n", `+ | OK a1 LOGIN "u" "a\r\nb"`)
	f("a1 LOGIN u {3}\r\n\x00\xff\"\r\n", `+ | OK a1 LOGIN "u" "\x00\xff\""`)
	f("a1 LOGIN {004}\r\nuser p\r\n", `+ | OK a1 LOGIN "user" "p"`)
	// {0} is an empty argument; nginx takes the next byte (§3.1.2), not here
	f("a1 LOGIN u {0}\r\n\r\n", `+ | OK a1 LOGIN "u" ""`)
	f("a1 LOGIN {0}\r\n {0+}\r\n\r\n", `+ | OK a1 LOGIN "" ""`)
	f("a1 LOGIN {0}\r\n", `+ | more`)
	f("a1 LOGIN {4}\r\nus", `+ | more`)
	// a literal must be followed by SP or the end of the line (nginx 1.29.6)
	f("a1 LOGIN {3}\r\nabcX p\r\n", `+ | BAD a1`)
	f("a1 LOGIN {3}\r\nabc\"p\"\r\n", `+ | BAD a1`)
	f("a1 LOGIN {3 }\r\n", `BAD a1`)
	f("a1 LOGIN {}\r\n", `BAD a1`)
	f("a1 LOGIN {+}\r\n", `BAD a1`)
	f("a1 LOGIN {3}x\r\n", `BAD a1`)
	f("a1 LOGIN {3}\rx\n", `BAD a1`)
	f("a1 LOGIN {3++}\r\n", `BAD a1`)
	f("a1 LOGIN {-3}\r\n", `BAD a1`)
	// length overflow and literals beyond the limit cannot be resynchronised
	f("a1 LOGIN {99999999999999999999}\r\n", `BAD a1 close`)
	f("a1 LOGIN {4097}\r\n", `BAD a1 close`)
	f("a1 LOGIN {4079}\r\n", `BAD a1 close`)
	f("a1 LOGIN {4078}\r\n", `+ | more`)
	f("* LOGIN {4097}\r\n", `BAD *`)
	// an invalid line ending in {n+} closes (nginx); {n} does not, since the
	// client waits for "+" and gets BAD instead
	f("a1 FOO {3+}\r\nabc\r\n", `BAD a1 close`)
	f("a1 FOO {3}\r\nabc\r\n", `BAD a1 | BAD *`)
	f("a1 LOGIN a b c {1+}\r\nx\r\n", `BAD a1 close`)
	f("a1 LOGIN a b c {1}\r\n", `BAD a1`)
	f("a1 LOGIN \"a\\q\" {12+}\n", `BAD a1 close`)
}

func TestIMAPLimit(t *testing.T) {
	f := func(limit int, in, want string) { t.Helper(); imapCheck(t, limit, in, want) }
	f(9, "a1 NOOP\r\n", `OK a1 NOOP`)
	f(9, "a1 NOOP\r\na2 NOOP\r\n", `OK a1 NOOP | OK a2 NOOP`)
	f(8, "a1 NOOP\r\n", `BAD a1 close`)
	f(8, "a1 NOOP\n", `OK a1 NOOP`)
	f(16, "a1 NOOP aaaaaaaaaaaaaaaaaaaa\r\n", `BAD a1 close`)
	f(16, strings.Repeat("t", 20), `BAD * close`)
	f(16, "a1 FOOBARBAZ xxxxxxxxxxxxxxx\r\n", `BAD a1 close`)
	f(16, "a1 FOO\r\na2 NOOP\r\n", `BAD a1 | OK a2 NOOP`)
	// the literal data plus the final LF must fit
	f(24, "a1 LOGIN u {9}\r\n", `BAD a1 close`)
	f(24, "a1 LOGIN u {8}\r\n", `BAD a1 close`)
	f(25, "a1 LOGIN u {8}\r\n12345678\n", `+ | OK a1 LOGIN "u" "12345678"`)
	f(26, "a1 LOGIN u {8}\r\n12345678\r\n", `+ | OK a1 LOGIN "u" "12345678"`)
	f(25, "a1 LOGIN u {8}\r\n12345678\r\n", `+ | BAD a1 close`)
	f(0, "a1 LOGIN "+strings.Repeat("x", 10000)+"\r\n", `OK a1 LOGIN "`+strings.Repeat("x", 10000)+`"`)
}

func TestIMAPArgsAndLines(t *testing.T) {
	f := func(in, want string) { t.Helper(); imapCheck(t, 4096, in, want) }
	f("a1 LOGIN a b c d\r\n", `BAD a1`)
	f("a1 LOGIN a b c \"d\"\r\n", `BAD a1`)
	f("a1 LOGIN a b c \r\n", `OK a1 LOGIN "a" "b" "c"`)
	f("a1 NOOP\n", `OK a1 NOOP`)
	f("a1 LOGIN u p\n", `OK a1 LOGIN "u" "p"`)
	f("a1 NOOP\r\r\n", `BAD a1`)
	f("a1 NOOP\rx\n", `BAD a1`)
	f("a1 NOOP\r\n\r\n", `OK a1 NOOP | BAD *`)
	// pipelining: consumed must land on the next command
	f("a1 NOOP\r\na2 LOGIN u p\r\na3 CAPABILITY\n", `OK a1 NOOP | OK a2 LOGIN "u" "p" | OK a3 CAPABILITY`)
	f("a1 FOO\r\na2 NOOP\r\n", `BAD a1 | OK a2 NOOP`)
	f("a1 LOGIN {1}\r\nx y\r\na2 NOOP\r\na3 NO", `+ | OK a1 LOGIN "x" "y" | OK a2 NOOP | more`)
	f("a1 NOOP", `more`)
	f("a1 NOOP\r", `more`)
	// binary junk
	f("\x00\x01\x02\r\n", `BAD *`)
	f("\xff\xfe NOOP\r\n", `BAD *`)
	f("a1\x00 NOOP\r\n", `BAD *`)
	f("a1 NOOP \x00\r\n", `BAD a1`)
	f("a1 NO\x00OP\r\n", `BAD a1`)
	f("a1 LOGIN u\x00 p\r\na2 NOOP\r\n", `BAD a1 | OK a2 NOOP`)
}

func TestIMAPID(t *testing.T) {
	f := func(in, want string) { t.Helper(); imapCheck(t, 4096, in, want) }
	f(`a1 ID ("name" "Thunderbird" "version" "115.3")`+"\r\n", `OK a1 ID "(\"name\" \"Thunderbird\" \"version\" \"115.3\")"`)
	f(`a1 ID ()`+"\r\n", `OK a1 ID "()"`)
	f(`a1 ID ("name" NIL)`+"\r\n", `OK a1 ID "(\"name\" NIL)"`)
	f(`a1 ID ("name" nil "os" "x")`+"\r\n", `OK a1 ID "(\"name\" nil \"os\" \"x\")"`)
	f(`a1 ID ("a\"b" "c\\")`+"\r\n", `OK a1 ID "(\"a\\\"b\" \"c\\\\\")"`)
	f(`a1 ID   NIL  `+"\r\n", `OK a1 ID "NIL"`)
	f(`a1 ID ("a" "b")  `+"\n", `OK a1 ID "(\"a\" \"b\")"`)
	f("a1 ID ({4}\r\nname \"x\")\r\n", `+ | OK a1 ID "({4}\r\nname \"x\")"`)
	f("a1 ID (\"name\" {1+}\r\nx)\r\n", `OK a1 ID "(\"name\" {1+}\r\nx)"`)
	f(`a1 ID (NIL "x")`+"\r\n", `BAD a1`)
	f(`a1 ID ("name")`+"\r\n", `BAD a1`)
	f(`a1 ID ("a" "b" )`+"\r\n", `BAD a1`)
	f(`a1 ID ( "a" "b")`+"\r\n", `BAD a1`)
	f(`a1 ID (name "x")`+"\r\n", `BAD a1`)
	f(`a1 ID ("a" "b")x`+"\r\n", `BAD a1`)
	f(`a1 ID ("a" "b") NIL`+"\r\n", `BAD a1`)
	f(`a1 ID ("a\q" "b")`+"\r\n", `BAD a1`)
	f(`a1 ID (("a" "b"))`+"\r\n", `BAD a1`)
	f(`a1 ID NIL extra`+"\r\n", `BAD a1`)
	f(`a1 ID NILL`+"\r\n", `BAD a1`)
	f(`a1 ID NI`+"\r\n", `BAD a1`)
	f(`a1 ID "x"`+"\r\n", `BAD a1`)
	f("a1 ID\r\n", `BAD a1`)
	f("a1 ID \r\n", `BAD a1`)
	f("a1 ID (\"a\" \"b\r\n", `BAD a1`)
}

func TestIMAPReset(t *testing.T) {
	var p IMAPParser
	var cmd IMAPCommand
	if res, _ := p.Parse([]byte("a1 LOGIN {4}\r\n"), 4096, &cmd); res != Continue {
		t.Fatalf("got %d, want Continue", res)
	}
	p.Reset()
	res, n := p.Parse([]byte("a2 NOOP\r\n"), 4096, &cmd)
	if res != Done || n != 9 || string(cmd.Tag) != "a2" || cmd.Cmd != IMAPNoop {
		t.Fatalf("after Reset: %d %d %q %d", res, n, cmd.Tag, cmd.Cmd)
	}
}

// TestIMAPScratchArgs: unescaped arguments must stay right when a later
// argument makes the scratch grow.
func TestIMAPScratchArgs(t *testing.T) {
	long := strings.Repeat("y", 300)
	f := func(in, want string) { t.Helper(); imapCheck(t, 4096, in, want) }
	f(`a1 LOGIN "x\\" "`+long+`\""`+"\r\n", `OK a1 LOGIN "x\\" "`+long+`\""`)
}

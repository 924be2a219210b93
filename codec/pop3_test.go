package codec

import (
	"fmt"
	"strings"
	"testing"
)

var pop3CmdNames = [...]string{"UNKNOWN", "USER", "PASS", "APOP", "AUTH", "CAPA", "NOOP", "QUIT", "STLS"}

// pop3Events parses every command in data with the given limit and
// describes each result; it stops at NeedMore or a too-long line.
func pop3Events(data []byte, limit int) string {
	var out []string
	for {
		var cmd POP3Command
		res, n := ParsePOP3(data, limit, &cmd)
		switch res {
		case NeedMore:
			if n != 0 {
				out = append(out, fmt.Sprintf("BAD needmore consumed %d", n))
			}
			out = append(out, "more")
			return strings.Join(out, " | ")
		case Invalid:
			if CommandTooLong(data, n, limit) {
				out = append(out, fmt.Sprintf("toolong %d", n))
				return strings.Join(out, " | ")
			}
			out = append(out, fmt.Sprintf("invalid %d", n))
		case Done:
			s := pop3CmdNames[cmd.Cmd]
			if cmd.Rest != nil {
				s += fmt.Sprintf(" rest=%q", cmd.Rest)
			}
			for _, a := range cmd.Args[:cmd.NArgs] {
				s += fmt.Sprintf(" %q", a)
			}
			out = append(out, fmt.Sprintf("%s %d", s, n))
		default:
			out = append(out, fmt.Sprintf("result %d", res))
			return strings.Join(out, " | ")
		}
		data = data[n:]
	}
}

func TestParsePOP3(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := pop3Events([]byte(in), 128); got != want {
			t.Errorf("ParsePOP3(%q)\n got  %s\n want %s", in, got, want)
		}
	}
	// every command, case folding
	f("USER bob\r\n", `USER rest="bob" "bob" 10 | more`)
	f("PASS secret\r\n", `PASS rest="secret" "secret" 13 | more`)
	f("APOP bob 0123abcd\r\n", `APOP "bob" "0123abcd" 19 | more`)
	f("AUTH\r\n", `AUTH 6 | more`)
	f("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", `AUTH "PLAIN" "AGJvYgBzZWNyZXQ=" 29 | more`)
	f("CAPA\r\n", `CAPA 6 | more`)
	f("NOOP\r\n", `NOOP 6 | more`)
	f("QUIT\r\n", `QUIT 6 | more`)
	f("STLS\r\n", `STLS 6 | more`)
	f("user bob\r\n", `USER rest="bob" "bob" 10 | more`)
	f("uSeR bob\r\n", `USER rest="bob" "bob" 10 | more`)
	f("stls\r\n", `STLS 6 | more`)
	f("auth plain\r\n", `AUTH "plain" 12 | more`)
	// arguments of other commands are kept but not checked: nginx answers CAPA x
	f("CAPA x\r\n", `CAPA "x" 8 | more`)
	// USER and PASS take the rest of the line; leading spaces are skipped,
	// inner and trailing ones kept (nginx 1.22: Auth-User a%20b%20, Auth-Pass sec%20ret%20%20)
	f("USER  a b \r\n", `USER rest="a b " "a b " 12 | more`)
	f("PASS  sec ret  \r\n", `PASS rest="sec ret  " "sec ret  " 17 | more`)
	f("PASS a\tb\r\n", `PASS rest="a\tb" "a\tb" 10 | more`)
	// USER/PASS with no argument: Done with NArgs 0; the engine answers -ERR (verified)
	f("USER\r\n", `USER 6 | more`)
	f("USER \r\n", `USER 7 | more`)
	f("PASS    \r\n", `PASS 10 | more`)
	// other commands: runs of spaces separate, at most three arguments
	f("APOP  a   b \r\n", `APOP "a" "b" 14 | more`)
	f("APOP a b c\r\n", `APOP "a" "b" "c" 12 | more`)
	f("APOP a b c d\r\n", `invalid 14 | more`)
	f("AUTH a b c d\r\n", `invalid 14 | more`)
	f("NOOP a b c  \r\n", `NOOP "a" "b" "c" 14 | more`)
	// LF-only line ends
	f("QUIT\n", `QUIT 5 | more`)
	f("USER a b\n", `USER rest="a b" "a b" 9 | more`)
	// pipelined lines in one buffer
	f("USER bob\r\nPASS pw\r\nQUIT\r\n", `USER rest="bob" "bob" 10 | PASS rest="pw" "pw" 9 | QUIT 6 | more`)
	f("USER bob\nPASS pw\nQU", `USER rest="bob" "bob" 9 | PASS rest="pw" "pw" 8 | more`)
	f("CAPA\r\nSTAT\r\nNOOP\r\n", `CAPA 6 | invalid 6 | NOOP 6 | more`)
	// partial lines
	f("", `more`)
	f("US", `more`)
	f("USER bob\r", `more`)
	// unknown, malformed, leading space, tabs, empty lines (all verified -ERR on nginx 1.22)
	f("STAT\r\n", `invalid 6 | more`)
	f("RETR 1\r\n", `invalid 8 | more`)
	f("USERS a\r\n", `invalid 9 | more`)
	f("USR a\r\n", `invalid 7 | more`)
	f(" USER a\r\n", `invalid 9 | more`)
	f("USER\ta\r\n", `invalid 8 | more`)
	f("NOOP\tx\r\n", `invalid 8 | more`)
	f("\r\n", `invalid 2 | more`)
	f("\n", `invalid 1 | more`)
	f("US3R a\r\n", `invalid 8 | more`)
	// a CR not right before LF is invalid (nginx sw_almost_done)
	f("USER a\rb\r\n", `invalid 10 | more`)
	f("USER a\r\r\n", `invalid 9 | more`)
	f("\rUSER a\n", `invalid 8 | more`)
	// binary junk and NUL: NUL in the verb is invalid, in an argument it is a byte (nginx: USER a\0b → +OK)
	f("\x00\x01\x02\r\n", `invalid 5 | more`)
	f("US\x00R a\r\n", `invalid 8 | more`)
	f("USER a\x00b\r\n", `USER rest="a\x00b" "a\x00b" 10 | more`)
	f("NOOP a\x00b\r\n", `NOOP "a\x00b" 10 | more`)
	f("\xff\xfe\r\nQUIT\r\n", `invalid 4 | QUIT 6 | more`)
	f("USER \xc3\xa9t\xc3\xa9\r\n", `USER rest="été" "été" 12 | more`)
}

func TestParsePOP3Limit(t *testing.T) {
	f := func(in string, limit int, want string) {
		t.Helper()
		if got := pop3Events([]byte(in), limit); got != want {
			t.Errorf("ParsePOP3(%q, %d)\n got  %s\n want %s", in, limit, got, want)
		}
	}
	long := strings.Repeat("a", 121)
	// nginx 1.22, 128-byte buffer: 128 bytes with CRLF pass, 129 do not (verified)
	f("USER "+long+"\r\n", 128, `USER rest="`+long+`" "`+long+`" 128 | more`)
	f("USER "+long+"a\r\n", 128, `toolong 129`)
	f("USER "+long+"a\r", 128, `toolong 128`)
	f("USER "+long+"a\r\nQUIT\r\n", 128, `toolong 135`)
	f("USER "+long+"a\n", 128, `USER rest="`+long+`a" "`+long+`a" 128 | more`)
	f("USER "+long+"aa", 128, `toolong 128`)
	f("USER "+long+"a", 128, `more`)
	// an invalid line ending exactly at the limit is not the too-long kind
	f("STAT "+long+"\r\n", 128, `invalid 128 | more`)
	f(strings.Repeat("x", 300), 128, `toolong 300`)
	f("QUIT\r\n", 6, `QUIT 6 | more`)
	f("QUIT\r\n", 5, `toolong 6`)
	f("QUIT\r\n", 1, `toolong 6`)
	f("Q", 1, `toolong 1`)
	f("", 1, `more`)
	// a bigger limit (pop3_client_buffer style) lifts the nginx restriction
	f("PASS "+strings.Repeat("t", 2000)+"\r\nQUIT\r\n", 4096, `PASS rest="`+strings.Repeat("t", 2000)+`" "`+strings.Repeat("t", 2000)+`" 2007 | QUIT 6 | more`)
}

func TestParsePOP3ResetsCommand(t *testing.T) {
	var cmd POP3Command
	if res, _ := ParsePOP3([]byte("APOP a b\r\n"), 128, &cmd); res != Done || cmd.NArgs != 2 {
		t.Fatalf("APOP: %v %+v", res, cmd)
	}
	if res, _ := ParsePOP3([]byte("QUIT\r\n"), 128, &cmd); res != Done || cmd.Cmd != POP3Quit || cmd.NArgs != 0 || cmd.Args[0] != nil || cmd.Rest != nil {
		t.Fatalf("QUIT after APOP kept old fields: %v %+v", res, cmd)
	}
}

func TestParsePOP3PanicsOnBadLimit(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "BUG:") {
			t.Fatalf("want BUG panic, got %v", r)
		}
	}()
	var cmd POP3Command
	ParsePOP3([]byte("QUIT\r\n"), 0, &cmd)
}

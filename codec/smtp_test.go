package codec

import (
	"fmt"
	"strings"
	"testing"
)

var smtpCmdNames = [...]string{"UNKNOWN", "HELO", "EHLO", "AUTH", "MAIL", "RCPT", "RSET", "NOOP", "QUIT", "STARTTLS", "VRFY", "EXPN", "HELP"}

// smtpEvents parses every command in data and describes each result; it
// stops at NeedMore or a too-long line. Line and Replay are checked here.
func smtpEvents(data []byte, limit int) string {
	var out []string
	for {
		var cmd SMTPCommand
		res, n := ParseSMTP(data, limit, &cmd)
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
			if string(cmd.Line) != string(data[:n]) {
				out = append(out, fmt.Sprintf("BAD invalid line %q", cmd.Line))
			}
			out = append(out, fmt.Sprintf("invalid %d", n))
		case Done:
			s := smtpCmdNames[cmd.Cmd]
			for _, a := range cmd.Args[:cmd.NArgs] {
				s += fmt.Sprintf(" %q", a)
			}
			if string(cmd.Line) != string(data[:n]) {
				s += fmt.Sprintf(" BAD line %q", cmd.Line)
			}
			out = append(out, fmt.Sprintf("%s %d", s, n))
		default:
			out = append(out, fmt.Sprintf("result %d", res))
			return strings.Join(out, " | ")
		}
		data = data[n:]
	}
}

func TestParseSMTP(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := smtpEvents([]byte(in), 4096); got != want {
			t.Errorf("ParseSMTP(%q)\n got  %s\n want %s", in, got, want)
		}
	}
	// every command, case folding
	f("HELO client.example\r\n", `HELO "client.example" 21 | more`)
	f("EHLO c\r\n", `EHLO "c" 8 | more`)
	f("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", `AUTH "PLAIN" "AGJvYgBzZWNyZXQ=" 29 | more`)
	f("AUTH plain\r\n", `AUTH "plain" 12 | more`)
	f("MAIL FROM:<a@b>\r\n", `MAIL "FROM:<a@b>" 17 | more`)
	f("RCPT TO:<c@d>\r\n", `RCPT "TO:<c@d>" 15 | more`)
	f("RSET\r\n", `RSET 6 | more`)
	f("NOOP\r\n", `NOOP 6 | more`)
	f("QUIT\r\n", `QUIT 6 | more`)
	f("STARTTLS\r\n", `STARTTLS 10 | more`)
	f("VRFY bob\r\n", `VRFY "bob" 10 | more`)
	f("EXPN list\r\n", `EXPN "list" 11 | more`)
	f("HELP\r\n", `HELP 6 | more`)
	f("ehlo c\r\n", `EHLO "c" 8 | more`)
	f("StartTls\r\n", `STARTTLS 10 | more`)
	f("mail from:<A@B>\r\n", `MAIL "from:<A@B>" 17 | more`)
	// argument splitting as nginx: runs of SP separate, tabs do not
	f("MAIL FROM: <a@b>\r\n", `MAIL "FROM:" "<a@b>" 18 | more`)
	f("MAIL FROM:<s@x.org>  SIZE=100 BODY=8BITMIME\r\n", `MAIL "FROM:<s@x.org>" "SIZE=100" "BODY=8BITMIME" 45 | more`)
	f("EHLO  x \r\n", `EHLO "x" 10 | more`)
	f("EHLO x\ty\r\n", `EHLO "x\ty" 10 | more`)
	f("EHLO x y\r\n", `EHLO "x" "y" 10 | more`)
	f("HELO\r\n", `HELO 6 | more`)
	f("MAIL   \r\n", `MAIL 9 | more`)
	// at most 11 arguments
	f("NOOP a b c d e f g h i j k\r\n", `NOOP "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" 28 | more`)
	f("NOOP a b c d e f g h i j k  \r\n", `NOOP "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" 30 | more`)
	f("NOOP a b c d e f g h i j k l\r\n", `invalid 30 | more`)
	// DATA, BDAT and unknown verbs are invalid (nginx: 500 5.5.1, counted)
	f("DATA\r\n", `invalid 6 | more`)
	f("BDAT 1 LAST\r\n", `invalid 13 | more`)
	f("XCLIENT ADDR=1.2.3.4\r\n", `invalid 22 | more`)
	f("STARTTLSX\r\n", `invalid 11 | more`)
	f("STARTTL\r\n", `invalid 9 | more`)
	f("EHL x\r\n", `invalid 7 | more`)
	// leading space, tab after the verb, empty line, CR inside (all verified 500 on nginx 1.22)
	f(" EHLO x\r\n", `invalid 9 | more`)
	f("EHLO\tx\r\n", `invalid 8 | more`)
	f("\r\n", `invalid 2 | more`)
	f("EHLO a\rb\r\n", `invalid 10 | more`)
	// binary junk and NUL
	f("X\x00Y\r\n", `invalid 5 | more`)
	f("\x80\x81\x82\x83\n", `invalid 5 | more`)
	f("HELO a\x00b\r\n", `HELO "a\x00b" 10 | more`)
	// LF-only and pipelining
	f("HELO x\nMAIL FROM: <a@b>\r\nRCPT TO:<c@d>\r\n", `HELO "x" 7 | MAIL "FROM:" "<a@b>" 18 | RCPT "TO:<c@d>" 15 | more`)
	f("EHLO c\r\nAUTH PLAIN AGEAYg==\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", `EHLO "c" 8 | AUTH "PLAIN" "AGEAYg==" 21 | MAIL "FROM:<a@b>" 17 | RCPT "TO:<c@d>" 15 | invalid 6 | more`)
	f("QUIT\r\nQU", `QUIT 6 | more`)
	f("", `more`)
	f("EHLO x\r", `more`)
}

func TestParseSMTPLimit(t *testing.T) {
	f := func(in string, limit int, want string) {
		t.Helper()
		if got := smtpEvents([]byte(in), limit); got != want {
			t.Errorf("ParseSMTP(%q, %d)\n got  %s\n want %s", in, limit, got, want)
		}
	}
	f("EHLO abc\r\n", 10, `EHLO "abc" 10 | more`)
	f("EHLO abcd\r\n", 10, `toolong 11`)
	f("EHLO abcd\r", 10, `toolong 10`)
	f("EHLO abcd", 10, `more`)
	f("DATA abcd\n", 10, `invalid 10 | more`)
	f(strings.Repeat("\x00", 50), 10, `toolong 50`)
}

func TestParseSMTPReplay(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		var cmd SMTPCommand
		res, _ := ParseSMTP([]byte(in), 4096, &cmd)
		if res != Done || string(cmd.Replay) != want {
			t.Errorf("ParseSMTP(%q): res %d replay %q, want %q", in, res, cmd.Replay, want)
		}
	}
	// nginx 1.22 replays MAIL/RCPT up to the last argument, then CRLF (verified on the wire)
	f("MAIL FROM:<a@b>\r\n", "MAIL FROM:<a@b>")
	f("MAIL FROM: <a@b>\r\n", "MAIL FROM: <a@b>")
	f("MAIL FROM:<s@x.org>  SIZE=100 BODY=8BITMIME\r\n", "MAIL FROM:<s@x.org>  SIZE=100 BODY=8BITMIME")
	f("RCPT  TO:<c@d> NOTIFY=NEVER \r\n", "RCPT  TO:<c@d> NOTIFY=NEVER")
	f("MAIL FROM:<a@b>\t \n", "MAIL FROM:<a@b>\t")
	f("mail from:<a@b>\n", "mail from:<a@b>")
	f("RSET   \r\n", "RSET")
	f("QUIT\n", "QUIT")
}

func TestParseSMTPReply(t *testing.T) {
	f := func(in string, limit int, want string) {
		t.Helper()
		code, n, res := ParseSMTPReply([]byte(in), limit)
		var got string
		switch res {
		case Done:
			got = fmt.Sprintf("%d %d", code, n)
		case NeedMore:
			got = fmt.Sprintf("more %d %d", code, n)
		case Invalid:
			got = fmt.Sprintf("invalid %d %d", code, n)
		default:
			got = fmt.Sprintf("result %d", res)
		}
		if got != want {
			t.Errorf("ParseSMTPReply(%q, %d) = %s, want %s", in, limit, got, want)
		}
	}
	// single line
	f("220 mx ESMTP\r\n", 512, `220 14`)
	f("250 ok\r\n", 512, `250 8`)
	f("250\r\n", 512, `250 5`)
	f("235 2.7.0 Authentication successful\r\n", 512, `235 37`)
	f("554 5.7.1 no\r\nextra", 512, `554 14`)
	// multi-line
	f("250-mx\r\n250-PIPELINING\r\n250 XCLIENT ADDR LOGIN NAME\r\n", 512, `250 53`)
	f("250-mx\r\n250-\r\n250\r\n", 512, `250 19`)
	f("250-a\r\n250 b\r\n220 next\r\n", 512, `250 14`)
	// bare LF
	f("250 ok\n", 512, `250 7`)
	f("250-a\n250-b\r\n250 c\n", 512, `250 19`)
	// partial
	f("", 512, `more 0 0`)
	f("25", 512, `more 0 0`)
	f("250 ok", 512, `more 0 0`)
	f("250 ok\r", 512, `more 0 0`)
	f("250-a\r\n", 512, `more 0 0`)
	f("250-a\r\n250 b", 512, `more 0 0`)
	// mixed codes, malformed lines
	f("250-a\r\n251 b\r\n", 512, `invalid 0 14`)
	f("250-a\r\n220-b\r\n220 c\r\n", 512, `invalid 0 14`)
	f("25\r\n", 512, `invalid 0 4`)
	f("\r\n", 512, `invalid 0 2`)
	f("abc ok\r\n", 512, `invalid 0 8`)
	f("2x0 ok\r\n", 512, `invalid 0 8`)
	f("250ok\r\n", 512, `invalid 0 7`)
	f("250\tok\r\n", 512, `invalid 0 8`)
	f("250-a\r\nxyz\r\n", 512, `invalid 0 12`)
	f("+OK pop3\r\n", 512, `invalid 0 10`)
	f("\x00\x00\x00 x\n", 512, `invalid 0 6`)
	// limit covers the whole reply, line ends included
	f("250 ok\r\n", 8, `250 8`)
	f("250 ok\r\n", 7, `invalid 0 8`)
	f("250 ok\r", 7, `invalid 0 7`)
	f("250 ok", 7, `more 0 0`)
	f("250-a\r\n250 bb\r\n", 15, `250 15`)
	f("250-a\r\n250 bb\r\n", 14, `invalid 0 15`)
	f(strings.Repeat("250-x\r\n", 100), 512, `invalid 0 700`)
}

func TestParseSMTPReplyPanicsOnBadLimit(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "BUG:") {
			t.Fatalf("want BUG panic, got %v", r)
		}
	}()
	ParseSMTPReply([]byte("250 ok\r\n"), 0)
}

func TestAppendXClient(t *testing.T) {
	f := func(addr, login, name, want string) {
		t.Helper()
		var l []byte
		if login != "" {
			l = []byte(login)
		}
		if got := string(AppendXClient([]byte("x"), addr, l, name)); got != "x"+want {
			t.Errorf("AppendXClient(%q, %q, %q)\n got  %q\n want %q", addr, login, name, got, "x"+want)
		}
	}
	// the line nginx 1.22 sent in the wire test: XCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]
	f("127.0.0.1", "", "[UNAVAILABLE]", "XCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]\r\n")
	f("127.0.0.1", "user@example.com", "[UNAVAILABLE]", "XCLIENT ADDR=127.0.0.1 LOGIN=user@example.com NAME=[UNAVAILABLE]\r\n")
	f("192.0.2.7", "bob", "mail.example.org", "XCLIENT ADDR=192.0.2.7 LOGIN=bob NAME=mail.example.org\r\n")
	f("::1", "bob", "[TEMPUNAVAIL]", "XCLIENT ADDR=IPV6:::1 LOGIN=bob NAME=[TEMPUNAVAIL]\r\n")
	f("2001:db8::5", "", "[UNAVAILABLE]", "XCLIENT ADDR=IPV6:2001:db8::5 NAME=[UNAVAILABLE]\r\n")
	f("IPV6:::1", "", "[UNAVAILABLE]", "XCLIENT ADDR=IPV6:::1 NAME=[UNAVAILABLE]\r\n")
	// xtext LOGIN (nginx 1.29.2+)
	f("127.0.0.1", "a+b", "h", "XCLIENT ADDR=127.0.0.1 LOGIN=a+2Bb NAME=h\r\n")
	f("127.0.0.1", "a=b", "h", "XCLIENT ADDR=127.0.0.1 LOGIN=a+3Db NAME=h\r\n")
	f("127.0.0.1", "a b", "h", "XCLIENT ADDR=127.0.0.1 LOGIN=a+20b NAME=h\r\n")
	f("127.0.0.1", "jürgen", "h", "XCLIENT ADDR=127.0.0.1 LOGIN=j+C3+BCrgen NAME=h\r\n")
	f("127.0.0.1", "x\r\nDATA", "h", "XCLIENT ADDR=127.0.0.1 LOGIN=x+0D+0ADATA NAME=h\r\n")
}

func TestAppendSMTPAuthPlain(t *testing.T) {
	f := func(user, pass, want string) {
		t.Helper()
		if got := string(AppendSMTPAuthPlain([]byte("x"), []byte(user), []byte(pass))); got != "x"+want {
			t.Errorf("AppendSMTPAuthPlain(%q, %q) = %q, want %q", user, pass, got, "x"+want)
		}
	}
	f("bob", "secret", "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n")
	f("", "", "AUTH PLAIN AAA=\r\n")
	f("a", "", "AUTH PLAIN AGEA\r\n")
	f("tim", "tanstaaftanstaaf", "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n") // RFC 4616 §4 example without authzid
	f("jürgen", "pa ss", "AUTH PLAIN AGrDvHJnZW4AcGEgc3M=\r\n")
}

func TestAppendSMTPAuthPlainLeavesNoPassword(t *testing.T) {
	buf := make([]byte, 0, 256)
	line := AppendSMTPAuthPlain(buf, []byte("bob"), []byte("hunter2hunter2"))
	if strings.Contains(string(line[:cap(line)]), "hunter2") {
		t.Fatalf("raw password left in the buffer past the line: %q", line[:cap(line)])
	}
}

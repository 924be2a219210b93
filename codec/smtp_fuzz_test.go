package codec

import (
	"bytes"
	"fmt"
	"testing"
)

// smtpFuzzFeed plays chunks into a growing buffer as an engine would and
// returns the commands seen, checking the per-call invariants.
func smtpFuzzFeed(t *testing.T, chunks [][]byte, limit int) []string {
	var ev []string
	var b []byte
	var cmd SMTPCommand
	for _, c := range chunks {
		b = append(b, c...)
		for {
			res, n := ParseSMTP(b, limit, &cmd)
			if n < 0 || n > len(b) {
				t.Fatalf("consumed %d of %d", n, len(b))
			}
			switch res {
			case NeedMore:
				if n != 0 || len(b) >= limit {
					t.Fatalf("NeedMore with consumed %d, len %d, limit %d", n, len(b), limit)
				}
			case Invalid:
				if n == 0 {
					t.Fatalf("Invalid consumed nothing of %q", b)
				}
				if CommandTooLong(b, n, limit) {
					return append(ev, "toolong")
				}
				if !bytes.Equal(cmd.Line, b[:n]) {
					t.Fatalf("invalid Line %q, consumed %q", cmd.Line, b[:n])
				}
				ev = append(ev, "invalid "+fmt.Sprint(n))
			case Done:
				line := b[:n]
				if n > limit || b[n-1] != '\n' || !bytes.Equal(cmd.Line, line) || !pop3FuzzAliases(line, cmd.Line) {
					t.Fatalf("Done consumed %d of %q, Line %q, limit %d", n, b, cmd.Line, limit)
				}
				if cmd.NArgs < 0 || cmd.NArgs > SMTPMaxArgs || cmd.Cmd == SMTPUnknown {
					t.Fatalf("bad command %+v for %q", cmd, line)
				}
				if !bytes.HasPrefix(line, cmd.Replay) || len(cmd.Replay) < 4 || bytes.ContainsAny(cmd.Replay, "\r\n") ||
					cmd.Replay[len(cmd.Replay)-1] == ' ' || !pop3FuzzAliases(line, cmd.Replay) {
					t.Fatalf("bad Replay %q of %q", cmd.Replay, line)
				}
				s := fmt.Sprint(cmd.Cmd, " ", n)
				for i, a := range cmd.Args[:cmd.NArgs] {
					if len(a) == 0 || bytes.ContainsAny(a, " \r\n") || !pop3FuzzAliases(line, a) {
						t.Fatalf("bad arg %d %q of %q", i, a, line)
					}
					s += fmt.Sprintf(" %q", a)
				}
				ev = append(ev, s)
			default:
				t.Fatalf("result %d", res)
			}
			if res == NeedMore {
				break
			}
			b = b[n:]
		}
	}
	return append(ev, fmt.Sprintf("left %q", b))
}

// smtpFuzzReplies plays chunks as backend replies arriving; parsing stops
// at the first Invalid, as the engine drops the backend then.
func smtpFuzzReplies(t *testing.T, chunks [][]byte, limit int) []string {
	var ev []string
	var b []byte
	for _, c := range chunks {
		b = append(b, c...)
		for {
			code, n, res := ParseSMTPReply(b, limit)
			if n < 0 || n > len(b) {
				t.Fatalf("consumed %d of %d", n, len(b))
			}
			switch res {
			case NeedMore:
				if n != 0 || code != 0 || len(b) >= limit {
					t.Fatalf("NeedMore with code %d consumed %d, len %d, limit %d", code, n, len(b), limit)
				}
			case Invalid:
				if n == 0 || code != 0 {
					t.Fatalf("Invalid with code %d consumed %d of %q", code, n, b)
				}
				return append(ev, "invalid")
			case Done:
				if n > limit || b[n-1] != '\n' || code < 0 || code > 999 {
					t.Fatalf("Done code %d consumed %d of %q, limit %d", code, n, b, limit)
				}
				// the code must be the final line's
				last := b[bytes.LastIndexByte(b[:n-1], '\n')+1 : n]
				if len(last) < 4 || fmt.Sprintf("%03d", code) != string(last[:3]) {
					t.Fatalf("code %d is not the final line's in %q", code, b[:n])
				}
				ev = append(ev, fmt.Sprint(code, " ", n))
			default:
				t.Fatalf("result %d", res)
			}
			if res == NeedMore {
				break
			}
			b = b[n:]
		}
	}
	return append(ev, fmt.Sprintf("left %q", b))
}

func FuzzSMTP(f *testing.F) {
	for _, s := range []string{
		"EHLO c\r\nAUTH PLAIN AGEAYg==\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", "MAIL FROM: <a@b>  SIZE=1 \n",
		"NOOP a b c d e f g h i j k l\r\n", "STARTTLS\r\nstarttls\n", " EHLO x\r\n", "EHLO\tx\r\n", "EHLO a\rb\r\n",
		"X\x00Y\r\n", "HELO " + string(bytes.Repeat([]byte("h"), 600)) + "\r\nQUIT\r\n",
	} {
		f.Add([]byte(s), uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		pop3FuzzSame(t, "ParseSMTP", data, seed, 512, smtpFuzzFeed)
		pop3FuzzSame(t, "ParseSMTP", data, seed, 1+int(seed%40), smtpFuzzFeed)
	})
}

func FuzzSMTPReply(f *testing.F) {
	for _, s := range []string{
		"220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250 XCLIENT ADDR\r\n", "250\r\n235 ok\n", "250-a\r\n251 b\r\n",
		"25\r\n", "250ok\r\n", "250-a\n250-b\r\n250 c\n", "\r\n", "554 5.7.1 no\r\n",
	} {
		f.Add([]byte(s), uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		pop3FuzzSame(t, "ParseSMTPReply", data, seed, 512, smtpFuzzReplies)
		pop3FuzzSame(t, "ParseSMTPReply", data, seed, 1+int(seed%40), smtpFuzzReplies)
	})
}

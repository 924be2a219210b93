package codec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// pop3FuzzChunks cuts data three ways: whole, byte by byte, and at random
// points chosen by seed.
func pop3FuzzChunks(data []byte, seed uint64) [3][][]byte {
	var out [3][][]byte
	out[0] = [][]byte{data}
	for i := range data {
		out[1] = append(out[1], data[i:i+1])
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for rest := data; len(rest) > 0; {
		n := 1 + r.IntN(len(rest))
		out[2] = append(out[2], rest[:n])
		rest = rest[n:]
	}
	return out
}

// pop3FuzzFeed plays chunks into a growing buffer as an engine would and
// returns the commands seen, checking the per-call invariants.
func pop3FuzzFeed(t *testing.T, chunks [][]byte, limit int) []string {
	var ev []string
	var b []byte
	var cmd POP3Command
	for _, c := range chunks {
		b = append(b, c...)
		for {
			res, n := ParsePOP3(b, limit, &cmd)
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
				ev = append(ev, "invalid "+fmt.Sprint(n))
			case Done:
				if n > limit || b[n-1] != '\n' {
					t.Fatalf("Done consumed %d of %q, limit %d", n, b, limit)
				}
				line := b[:n]
				if cmd.NArgs < 0 || cmd.NArgs > POP3MaxArgs || cmd.Cmd == POP3Unknown {
					t.Fatalf("bad command %+v for %q", cmd, line)
				}
				s := fmt.Sprint(cmd.Cmd, " ", n)
				for i, a := range cmd.Args[:cmd.NArgs] {
					if len(a) == 0 || bytes.ContainsAny(a, "\r\n") || !pop3FuzzAliases(line, a) {
						t.Fatalf("bad arg %d %q of %q", i, a, line)
					}
					if cmd.Cmd != POP3User && cmd.Cmd != POP3Pass && bytes.IndexByte(a, ' ') >= 0 {
						t.Fatalf("space in arg %q of %q", a, line)
					}
					s += fmt.Sprintf(" %q", a)
				}
				if cmd.Rest != nil && (cmd.Cmd != POP3User && cmd.Cmd != POP3Pass || !pop3FuzzAliases(line, cmd.Rest)) {
					t.Fatalf("bad Rest %q of %q", cmd.Rest, line)
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

// pop3FuzzAliases reports whether sub lies inside line's memory.
func pop3FuzzAliases(line, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	for i := range line {
		if &line[i] == &sub[0] {
			return i+len(sub) <= len(line)
		}
	}
	return false
}

func pop3FuzzSame(t *testing.T, name string, data []byte, seed uint64, limit int, feed func(*testing.T, [][]byte, int) []string) {
	ways := pop3FuzzChunks(data, seed)
	want := feed(t, ways[0], limit)
	for i, w := range ways[1:] {
		got := feed(t, w, limit)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s(%q, limit %d): split %d gives\n%q\nwhole gives\n%q", name, data, limit, i+1, got, want)
		}
	}
}

func FuzzPOP3(f *testing.F) {
	for _, s := range []string{
		"USER bob\r\nPASS pw\r\nQUIT\r\n", "USER  a b \r\n", "APOP a b c d\r\n", "AUTH PLAIN AGEAYg==\r\n",
		"CAPA\nSTAT\nNOOP x y z\n", " USER a\r\n", "USER a\rb\r\n", "\r\n\n\r", "US\x00R\r\n",
		"PASS " + string(bytes.Repeat([]byte("x"), 130)) + "\r\nQUIT\r\n", "stls\r\nquit\n",
	} {
		f.Add([]byte(s), uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		pop3FuzzSame(t, "ParsePOP3", data, seed, 128, pop3FuzzFeed)
		pop3FuzzSame(t, "ParsePOP3", data, seed, 1+int(seed%24), pop3FuzzFeed)
	})
}

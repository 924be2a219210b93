package codec

import "bytes"

// POP3Cmd is a POP3 command recognised before authentication. nginx knows
// exactly these eight (ngx_mail_parse.c); STAT, LIST, RETR and the rest are
// unknown and therefore invalid before login.
type POP3Cmd uint8

const (
	POP3Unknown POP3Cmd = iota
	POP3User
	POP3Pass
	POP3Apop
	POP3Auth
	POP3Capa
	POP3Noop
	POP3Quit
	POP3Stls
)

// POP3MaxArgs is nginx's argument limit for POP3 commands; a fourth
// argument makes the whole command invalid. USER and PASS are exempt
// because their single argument runs to the end of the line.
const POP3MaxArgs = 3

// POP3Command is one parsed POP3 command line. All slices alias the input
// buffer and are valid until the caller discards those bytes.
type POP3Command struct {
	Cmd   POP3Cmd
	Args  [POP3MaxArgs][]byte // space-separated arguments (aliases input) for APOP/AUTH/others
	NArgs int
	// Rest is the argument of USER and PASS: the rest of the line after
	// the spaces that follow the verb, inner and trailing spaces included,
	// as nginx 1.22 does it: "USER  a b \r\n" gives "a b " (verified).
	// For USER and PASS it is also Args[0] (NArgs 1), or nil (NArgs 0)
	// when the line has no argument.
	Rest []byte
}

// ParsePOP3 parses one command line from the start of buf (CRLF or bare LF
// ends it); limit is the largest line accepted, line end included (nginx:
// 128, so "USER " + 121 bytes + CRLF passes and one byte more does not).
//
// Done: consumed includes the line end. NeedMore: no line end yet and
// len(buf) < limit. Invalid: unknown command, >3 args, a CR not followed
// by LF, or a verb with a non-letter in it (consumed = through line end);
// or no line end within limit (consumed = len(buf)), after which the
// engine sends -ERR invalid command and closes. The two Invalid kinds are
// told apart with CommandTooLong.
//
// Rules matched from nginx 1.22 (checked on the wire): the verb is letters
// only, any case, and must start the line (" USER a" and "USER\ta" are
// invalid); arguments are separated by runs of SP only (tabs and NULs are
// argument bytes); an empty line is invalid.
func ParsePOP3(buf []byte, limit int, cmd *POP3Command) (res Result, consumed int) {
	*cmd = POP3Command{}
	body, n, res := pop3Line(buf, limit)
	if res != Done {
		return res, n
	}
	verb, rest, ok := pop3Verb(body)
	if !ok || len(verb) != 4 {
		return Invalid, n
	}
	switch pop3Fold4(verb) {
	case 'u'<<24 | 's'<<16 | 'e'<<8 | 'r':
		cmd.Cmd = POP3User
	case 'p'<<24 | 'a'<<16 | 's'<<8 | 's':
		cmd.Cmd = POP3Pass
	case 'a'<<24 | 'p'<<16 | 'o'<<8 | 'p':
		cmd.Cmd = POP3Apop
	case 'a'<<24 | 'u'<<16 | 't'<<8 | 'h':
		cmd.Cmd = POP3Auth
	case 'c'<<24 | 'a'<<16 | 'p'<<8 | 'a':
		cmd.Cmd = POP3Capa
	case 'n'<<24 | 'o'<<16 | 'o'<<8 | 'p':
		cmd.Cmd = POP3Noop
	case 'q'<<24 | 'u'<<16 | 'i'<<8 | 't':
		cmd.Cmd = POP3Quit
	case 's'<<24 | 't'<<16 | 'l'<<8 | 's':
		cmd.Cmd = POP3Stls
	default:
		return Invalid, n
	}
	if cmd.Cmd == POP3User || cmd.Cmd == POP3Pass {
		rest = pop3SkipSpaces(rest)
		if len(rest) > 0 {
			cmd.Rest = rest
			cmd.Args[0] = rest
			cmd.NArgs = 1
		}
		return Done, n
	}
	na, _, ok := pop3Split(rest, cmd.Args[:])
	if !ok {
		*cmd = POP3Command{}
		return Invalid, n
	}
	cmd.NArgs = na
	return Done, n
}

// pop3Line finds the line at the start of buf; it is shared with the SMTP
// parser since nginx frames both protocols the same way. body excludes
// the line end. A CR anywhere but right before the final LF is invalid,
// as in nginx's sw_almost_done state.
func pop3Line(buf []byte, limit int) (body []byte, n int, res Result) {
	if limit <= 0 {
		panic("BUG: codec: line limit must be positive")
	}
	w := buf
	if len(w) > limit {
		w = w[:limit]
	}
	i := bytes.IndexByte(w, '\n')
	if i < 0 {
		if len(buf) < limit {
			return nil, 0, NeedMore
		}
		return nil, len(buf), Invalid
	}
	body = buf[:i]
	if len(body) > 0 && body[len(body)-1] == '\r' {
		body = body[:len(body)-1]
	}
	if bytes.IndexByte(body, '\r') >= 0 {
		return nil, i + 1, Invalid
	}
	return body, i + 1, Done
}

// CommandTooLong says whether an Invalid result (with its consumed) from
// ParsePOP3 or ParseSMTP on buf was the too-long kind, after which nginx
// logs "client sent too long command" and closes. An invalid command that
// has its line end within limit always ends in LF and never exceeds limit.
func CommandTooLong(buf []byte, consumed, limit int) bool {
	return consumed > limit || consumed == 0 || buf[consumed-1] != '\n'
}

// pop3Verb splits the verb off a line body. The verb is letters only and
// ends at SP or at the end of the line; rest starts after that SP.
func pop3Verb(body []byte) (verb, rest []byte, ok bool) {
	for i, c := range body {
		if c == ' ' {
			return body[:i], body[i+1:], i > 0
		}
		if (c|0x20) < 'a' || (c|0x20) > 'z' {
			return nil, nil, false
		}
	}
	return body, nil, len(body) > 0
}

// pop3Fold4 packs four ASCII letters, lower-cased, into one word.
func pop3Fold4(v []byte) uint32 {
	_ = v[3]
	return uint32(v[0]|0x20)<<24 | uint32(v[1]|0x20)<<16 | uint32(v[2]|0x20)<<8 | uint32(v[3]|0x20)
}

func pop3SkipSpaces(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return b
}

// pop3Split fills args with the SP-separated words of b. It returns the
// number found, the end offset of the last word in b (0 if none), and
// false when there are more words than args has room for.
func pop3Split(b []byte, args [][]byte) (n, end int, ok bool) {
	i := 0
	for {
		for i < len(b) && b[i] == ' ' {
			i++
		}
		if i == len(b) {
			return n, end, true
		}
		if n == len(args) {
			return n, end, false
		}
		start := i
		for i < len(b) && b[i] != ' ' {
			i++
		}
		args[n] = b[start:i]
		n++
		end = i
	}
}

package config

import "fmt"

// lexTerm says what ended a directive's words.
type lexTerm uint8

const (
	termSemi       lexTerm = iota + 1 // ";"
	termBlockStart                    // "{"
	termBlockDone                     // "}" with no words before it
	termEOF                           // end of file between directives
)

// lexer splits one config file into directives the way ngx_conf_read_token
// does: words are separated by space, tab, CR or LF; a word may be quoted
// with " or '; a backslash protects the next byte from ending the word, and
// \" \' \\ \t \r \n are replaced in the result (any other \x stays as is);
// # starts a comment only where a word could start; "}" inside a word is
// part of the word, as in nginx. line counts LF bytes seen so far, so after
// next returns it is the line of the terminating ";" or "{" — the line
// nginx reports for a directive.
type lexer struct {
	file string
	src  []byte
	pos  int
	line int
}

func newLexer(file string, src []byte) *lexer {
	return &lexer{file: file, src: src, line: 1}
}

// lexError builds an error carrying nginx's " in FILE:LINE" suffix.
func (lx *lexer) lexError(format string, a ...any) error {
	return fmt.Errorf("%s in %s:%d", fmt.Sprintf(format, a...), lx.file, lx.line)
}

func lexIsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

// next returns the words of the next directive and what ended it.
func (lx *lexer) next() ([]string, lexTerm, error) {
	var args []string
	lastSpace, needSpace, sharp := true, false, false
	dQuoted, sQuoted, quoted, variable := false, false, false, false
	start := 0
	for {
		if lx.pos >= len(lx.src) {
			if len(args) > 0 || !lastSpace {
				return nil, 0, lx.lexError(`unexpected end of file, expecting ";" or "}"`)
			}
			return nil, termEOF, nil
		}
		ch := lx.src[lx.pos]
		lx.pos++
		if ch == '\n' {
			lx.line++
			if sharp {
				sharp = false
			}
		}
		if sharp {
			continue
		}
		if quoted {
			quoted = false
			continue
		}
		if needSpace {
			switch {
			case lexIsSpace(ch):
				lastSpace, needSpace = true, false
				continue
			case ch == ';':
				return args, termSemi, nil
			case ch == '{':
				return args, termBlockStart, nil
			case ch == ')':
				lastSpace, needSpace = true, false
			default:
				return nil, 0, lx.lexError(`unexpected "%c"`, ch)
			}
		}
		if lastSpace {
			start = lx.pos - 1
			if lexIsSpace(ch) {
				continue
			}
			switch ch {
			case ';', '{':
				if len(args) == 0 {
					return nil, 0, lx.lexError(`unexpected "%c"`, ch)
				}
				if ch == '{' {
					return args, termBlockStart, nil
				}
				return args, termSemi, nil
			case '}':
				if len(args) != 0 {
					return nil, 0, lx.lexError(`unexpected "}"`)
				}
				return nil, termBlockDone, nil
			case '#':
				sharp = true
				continue
			case '\\':
				quoted = true
				lastSpace = false
				continue
			case '"':
				start++
				dQuoted = true
				lastSpace = false
				continue
			case '\'':
				start++
				sQuoted = true
				lastSpace = false
				continue
			case '$':
				variable = true
				lastSpace = false
				continue
			default:
				lastSpace = false
			}
			continue
		}
		if ch == '{' && variable {
			continue
		}
		variable = false
		if ch == '\\' {
			quoted = true
			continue
		}
		if ch == '$' {
			variable = true
			continue
		}
		found := false
		switch {
		case dQuoted:
			if ch == '"' {
				dQuoted, needSpace, found = false, true, true
			}
		case sQuoted:
			if ch == '\'' {
				sQuoted, needSpace, found = false, true, true
			}
		case lexIsSpace(ch) || ch == ';' || ch == '{':
			lastSpace, found = true, true
		}
		if !found {
			continue
		}
		args = append(args, lexUnescape(lx.src[start:lx.pos-1]))
		switch ch {
		case ';':
			return args, termSemi, nil
		case '{':
			return args, termBlockStart, nil
		}
	}
}

// lexUnescape applies nginx's escapes to one word.
func lexUnescape(w []byte) string {
	out := make([]byte, 0, len(w))
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c == '\\' && i+1 < len(w) {
			switch w[i+1] {
			case '"', '\'', '\\':
				out = append(out, w[i+1])
				i++
				continue
			case 't':
				out = append(out, '\t')
				i++
				continue
			case 'r':
				out = append(out, '\r')
				i++
				continue
			case 'n':
				out = append(out, '\n')
				i++
				continue
			}
		}
		out = append(out, c)
	}
	return string(out)
}

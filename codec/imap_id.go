package codec

// stepID advances the parser over one byte of an ID argument (RFC 2971 §4):
//
//	id_params_list ::= "(" [string SP nstring *(SP string SP nstring)] ")" / "NIL"
//
// Strings are quoted strings or literals; keys may not be NIL. The empty
// list "()" is accepted, as Dovecot does. The argument is not unescaped:
// Parse returns its raw text. It reports false on a syntax error.
func (p *IMAPParser) stepID(c byte) bool {
	switch p.state {
	case imapStIDStart:
		switch c {
		case ' ':
		case '(':
			p.idMark = p.pos
			p.idOpen = true
			p.state = imapStIDItem
		case 'N', 'n':
			p.idMark = p.pos
			p.inID = false
			p.litLen = 1 // index into "nil"
			p.state = imapStIDNil
		default:
			return false
		}

	case imapStIDItem:
		switch {
		case c == '"':
			p.state = imapStIDQuoted
		case c == '{':
			p.litLen, p.litNS, p.inID = -1, false, true
			p.state = imapStLitLen
		case (c == 'N' || c == 'n') && p.idN%2 == 1:
			p.inID = true
			p.litLen = 1
			p.state = imapStIDNil
		case c == ')' && p.idOpen:
			p.idEnd = p.pos + 1
			p.state = imapStIDEnd
		default:
			return false
		}
		p.idOpen = false

	case imapStIDQuoted:
		switch {
		case c == '"':
			p.idN++
			p.state = imapStIDAfter
		case c == '\\':
			p.state = imapStIDQuotedEsc
		case imapClass[c]&imapClassQuoted != 0:
		default:
			return false
		}

	case imapStIDQuotedEsc:
		if c != '"' && c != '\\' {
			return false
		}
		p.state = imapStIDQuoted

	case imapStIDAfter:
		switch c {
		case ' ':
			p.state = imapStIDItem
		case ')':
			if p.idN%2 != 0 {
				return false
			}
			p.idEnd = p.pos + 1
			p.state = imapStIDEnd
		default:
			return false
		}

	case imapStIDNil:
		if c|0x20 != "nil"[p.litLen] {
			return false
		}
		p.litLen++
		if p.litLen == len("nil") {
			if p.inID {
				p.idN++
				p.state = imapStIDAfter
			} else {
				p.idEnd = p.pos + 1
				p.state = imapStIDEnd
			}
		}

	case imapStIDEnd:
		switch c {
		case ' ', '\n':
		case '\r':
			p.state = imapStAlmostDone
		default:
			return false
		}
	}
	return true
}

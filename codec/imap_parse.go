package codec

import "bytes"

// imapState is the parser's byte position within a command, kept between
// calls so that a command split over many reads is scanned once.
type imapState uint8

const (
	imapStTag         imapState = iota // reading the tag
	imapStBeforeCmd                    // spaces after the tag
	imapStName                         // reading the command name
	imapStBeforeArg                    // spaces before an argument
	imapStAtom                         // inside an atom
	imapStQuoted                       // inside a quoted string
	imapStQuotedEsc                    // after a backslash in a quoted string
	imapStAfterArg                     // after a quoted string or literal: SP or end of line
	imapStLitLen                       // digits of {n}
	imapStLitPlus                      // after the "+" of {n+}: expect "}"
	imapStLitCR                        // after "}": expect CRLF or LF
	imapStLitLF                        // after "}" CR: expect LF
	imapStLitData                      // literal bytes
	imapStAlmostDone                   // after CR: expect LF
	imapStIDStart                      // spaces before the ID argument
	imapStIDItem                       // in the ID list, expect a string, NIL or ")"
	imapStIDQuoted                     // quoted string in the ID list
	imapStIDQuotedEsc                  // after a backslash there
	imapStIDAfter                      // after an ID list item: SP or ")"
	imapStIDNil                        // reading NIL (top level or as an ID value)
	imapStIDEnd                        // after the ID argument: spaces, then end of line
	imapStSkip                         // invalid command: skip to LF
)

// Parse parses the command at the start of buf; see IMAPParser. It returns:
//
//   - Done: cmd is filled; consumed covers the command through its LF.
//   - NeedMore: no complete command yet; consumed is 0.
//   - Continue: a synchronizing literal header {n} was just completed; the
//     caller sends "+ OK" and calls Parse again (at once if more bytes are
//     buffered: nginx sends "+ OK" for every {n}). Returned once per literal;
//     {n+} (RFC 7888 LITERAL+) never returns it.
//   - Invalid: consumed is the bytes to drop (through the end of the line, or
//     all of buf when cmd.Close is set); cmd.Tag, BadTag and Close say how to
//     answer. cmd.Cmd is set if the name was recognised.
//
// limit is imap_client_buffer: a command (literals included) that cannot be
// complete within limit bytes is Invalid with Close (nginx: "client sent too
// long command"). limit <= 0 means no limit. After Done or Invalid the parser
// is reset for the next command.
func (p *IMAPParser) Parse(buf []byte, limit int, cmd *IMAPCommand) (res Result, consumed int) {
	if p.pos > len(buf) {
		panic("BUG: codec: IMAPParser.Parse resumed with a buffer shorter than the bytes already scanned")
	}
	end := len(buf)
	if limit > 0 && end > limit {
		end = limit
	}
	for p.pos < end {
		c := buf[p.pos]
		switch p.state {
		case imapStTag:
			switch {
			case imapClass[c]&imapClassTag != 0:
				if p.pos >= IMAPMaxTag {
					p.state = imapStSkip
					continue
				}
			case c == ' ' && p.pos > 0:
				p.tagEnd = p.pos
				p.state = imapStBeforeCmd
			default: // empty tag, tag only, bad byte: "* BAD" as nginx
				p.state = imapStSkip
				continue
			}

		case imapStBeforeCmd:
			switch {
			case c == ' ': // nginx tolerates repeated spaces
			case lineIsAlpha(c):
				p.mark = p.pos
				p.state = imapStName
			default: // "a1 \r\n" is a tagged BAD in nginx 1.22 (verified)
				p.state = imapStSkip
				continue
			}

		case imapStName:
			if lineIsAlpha(c) {
				if p.pos-p.mark >= imapMaxName {
					p.state = imapStSkip
					continue
				}
				break
			}
			p.cmd = imapLookup(buf[p.mark:p.pos])
			switch {
			case p.cmd == IMAPUnknown:
				p.state = imapStSkip
				continue
			case p.cmd == IMAPID:
				if c != ' ' {
					p.state = imapStSkip
					continue
				}
				p.state = imapStIDStart
			case c == ' ':
				p.state = imapStBeforeArg
			case c == '\r':
				p.state = imapStAlmostDone
			case c == '\n':
				return p.done(buf, cmd)
			default:
				p.state = imapStSkip
				continue
			}

		case imapStBeforeArg:
			switch {
			case c == ' ':
			case c == '\r':
				p.state = imapStAlmostDone
			case c == '\n':
				return p.done(buf, cmd)
			case p.nargs == IMAPMaxArgs:
				p.state = imapStSkip
				continue
			case c == '"':
				p.mark = p.pos + 1
				p.esc = false
				p.state = imapStQuoted
			case c == '{':
				p.litLen, p.litNS, p.inID = -1, false, false
				p.state = imapStLitLen
			case imapClass[c]&imapClassAtom != 0:
				p.mark = p.pos
				p.state = imapStAtom
			default:
				p.state = imapStSkip
				continue
			}

		case imapStAtom:
			if imapClass[c]&imapClassAtom != 0 {
				break
			}
			if c != ' ' && c != '\r' && c != '\n' {
				p.state = imapStSkip
				continue
			}
			p.push(imapSpan{start: p.mark, end: p.pos})
			p.state = imapStAfterArg
			continue // the delimiter is handled by imapStAfterArg

		case imapStQuoted:
			switch {
			case c == '"':
				if p.esc {
					p.push(imapSpan{start: p.mark, end: len(p.scratch), scratch: true})
				} else {
					p.push(imapSpan{start: p.mark, end: p.pos})
				}
				p.state = imapStAfterArg
			case c == '\\':
				if !p.esc {
					p.esc = true
					start := len(p.scratch)
					p.scratch = append(p.scratch, buf[p.mark:p.pos]...)
					p.mark = start
				}
				p.state = imapStQuotedEsc
			case imapClass[c]&imapClassQuoted != 0:
				if p.esc {
					p.scratch = append(p.scratch, c)
				}
			default:
				p.state = imapStSkip
				continue
			}

		case imapStQuotedEsc:
			// RFC 3501 §9: only \" and \\ are escapes (nginx 1.22 takes any).
			if c != '"' && c != '\\' {
				p.state = imapStSkip
				continue
			}
			p.scratch = append(p.scratch, c)
			p.state = imapStQuoted

		case imapStAfterArg:
			switch c {
			case ' ':
				p.state = imapStBeforeArg
			case '\r':
				p.state = imapStAlmostDone
			case '\n':
				return p.done(buf, cmd)
			default: // e.g. junk after a literal (nginx checks since 1.29.6)
				p.state = imapStSkip
				continue
			}

		case imapStLitLen:
			switch {
			case c >= '0' && c <= '9':
				if p.litLen < 0 {
					p.litLen = 0
				}
				p.litLen = p.litLen*10 + int(c-'0')
				if p.litLen > imapMaxLiteral || (limit > 0 && p.litLen > limit) {
					return p.invalidClose(buf, cmd)
				}
			case c == '+' && p.litLen >= 0:
				p.litNS = true
				p.state = imapStLitPlus
			case c == '}' && p.litLen >= 0:
				p.state = imapStLitCR
			default:
				p.state = imapStSkip
				continue
			}

		case imapStLitPlus:
			if c != '}' {
				p.state = imapStSkip
				continue
			}
			p.state = imapStLitCR

		case imapStLitCR, imapStLitLF:
			if c == '\r' && p.state == imapStLitCR {
				p.state = imapStLitLF
				break
			}
			if c != '\n' {
				p.state = imapStSkip
				continue
			}
			p.pos++
			// The data and at least the final LF must fit in the limit.
			if limit > 0 && p.pos+p.litLen+1 > limit {
				return p.invalidClose(buf, cmd)
			}
			p.mark = p.pos
			p.state = imapStLitData
			if !p.litNS {
				return Continue, 0
			}
			continue

		case imapStLitData:
			// Literal data is any bytes (RFC 3501 CHAR8; NUL is let through as
			// nginx does). {0} is an empty argument: nginx's off-by-one that
			// takes one byte is not copied.
			n := min(p.litLen, end-p.pos)
			p.pos += n
			p.litLen -= n
			if p.litLen > 0 {
				continue
			}
			if p.inID {
				p.idN++
				p.state = imapStIDAfter
			} else {
				p.push(imapSpan{start: p.mark, end: p.pos})
				p.state = imapStAfterArg
			}
			continue

		case imapStAlmostDone:
			if c != '\n' { // a CR alone is invalid, as in nginx
				p.state = imapStSkip
				continue
			}
			return p.done(buf, cmd)

		case imapStIDStart, imapStIDItem, imapStIDQuoted, imapStIDQuotedEsc,
			imapStIDAfter, imapStIDNil, imapStIDEnd:
			if !p.stepID(c) {
				p.state = imapStSkip
				continue
			}
			if p.state == imapStIDEnd && c == '\n' {
				return p.done(buf, cmd)
			}

		case imapStSkip:
			i := bytes.IndexByte(buf[p.pos:end], '\n')
			if i < 0 {
				p.pos = end
				continue
			}
			p.pos += i
			return p.invalid(buf, cmd)
		}
		p.pos++
	}
	if limit > 0 && len(buf) >= limit {
		return p.invalidClose(buf, cmd)
	}
	return NeedMore, 0
}

// push records an argument; callers have checked the count.
func (p *IMAPParser) push(s imapSpan) {
	p.args[p.nargs] = s
	p.nargs++
}

// done fills cmd from a complete command whose LF is at p.pos.
func (p *IMAPParser) done(buf []byte, cmd *IMAPCommand) (Result, int) {
	*cmd = IMAPCommand{Tag: buf[:p.tagEnd], Cmd: p.cmd}
	if p.cmd == IMAPID {
		cmd.Args[0] = buf[p.idMark:p.idEnd]
		cmd.NArgs = 1
	} else {
		for i, s := range p.args[:p.nargs] {
			if s.scratch {
				cmd.Args[i] = p.scratch[s.start:s.end]
			} else {
				cmd.Args[i] = buf[s.start:s.end]
			}
		}
		cmd.NArgs = p.nargs
	}
	n := p.pos + 1
	p.Reset()
	return Done, n
}

// invalid answers an invalid command whose line ends with the LF at p.pos.
func (p *IMAPParser) invalid(buf []byte, cmd *IMAPCommand) (Result, int) {
	p.fillInvalid(buf, cmd)
	n := p.pos + 1
	// nginx: a line ending in {n+} is followed by literal data that cannot
	// be told from commands, so the session is closed. A rejected {n} is
	// not: the client waits for "+" and sends no data after the BAD.
	if imapEndsNonSyncLiteral(buf[:p.pos]) {
		cmd.Close = true
		n = len(buf)
	}
	p.Reset()
	return Invalid, n
}

// invalidClose answers a command that can never fit the limit.
func (p *IMAPParser) invalidClose(buf []byte, cmd *IMAPCommand) (Result, int) {
	p.fillInvalid(buf, cmd)
	cmd.Close = true
	p.Reset()
	return Invalid, len(buf)
}

func (p *IMAPParser) fillInvalid(buf []byte, cmd *IMAPCommand) {
	*cmd = IMAPCommand{Cmd: p.cmd}
	if p.tagEnd > 0 {
		cmd.Tag = buf[:p.tagEnd]
	} else {
		cmd.BadTag = true
	}
}

// imapEndsNonSyncLiteral reports whether line (without its LF) ends with
// "{digits+}", optionally followed by CR.
func imapEndsNonSyncLiteral(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if !bytes.HasSuffix(line, []byte("+}")) {
		return false
	}
	line = line[:len(line)-2]
	i := len(line)
	for i > 0 && line[i-1] >= '0' && line[i-1] <= '9' {
		i--
	}
	return i < len(line) && i > 0 && line[i-1] == '{'
}

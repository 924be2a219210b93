package codec

import "bytes"

// ReadLine returns the line at the start of buf without its CRLF or LF, for
// SASL continuation lines (IMAP AUTHENTICATE, POP3 and SMTP AUTH responses).
// It returns NeedMore while there is no LF and len(buf) < limit, and Invalid
// with consumed = len(buf) when no LF comes within limit bytes. limit <= 0
// means no limit. The line aliases buf.
func ReadLine(buf []byte, limit int) (line []byte, consumed int, res Result) {
	b := buf
	if limit > 0 && len(b) > limit {
		b = b[:limit]
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		if limit > 0 && len(buf) >= limit {
			return nil, len(buf), Invalid
		}
		return nil, 0, NeedMore
	}
	line = buf[:i]
	if i > 0 && line[i-1] == '\r' {
		line = line[:i-1]
	}
	return line, i + 1, Done
}

// lineEqualFold reports whether b equals upper, ignoring ASCII case in b.
// upper must be upper case; non-letters compare exactly. No allocation, no
// Unicode folding: protocol keywords are ASCII.
func lineEqualFold(b []byte, upper string) bool {
	if len(b) != len(upper) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// lineIsAlpha reports whether c is an ASCII letter.
func lineIsAlpha(c byte) bool {
	return (c|0x20) >= 'a' && (c|0x20) <= 'z'
}

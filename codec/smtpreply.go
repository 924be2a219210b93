package codec

import "bytes"

// ParseSMTPReply parses one reply from an SMTP backend at the start of buf
// (RFC 5321 §4.2): zero or more "ddd-text" lines and a final "ddd text" or
// bare "ddd" line, each ended by CRLF or a bare LF. limit bounds the whole
// reply, line ends included.
//
// Done: code is the final line's code and consumed covers all lines of the
// reply. NeedMore: the reply is not complete and len(buf) < limit (code 0,
// consumed 0). Invalid: a complete line is not "ddd", "ddd SP ..." or
// "ddd-...", or its code differs from the previous line's (consumed runs
// through that line), or no complete reply within limit (consumed =
// len(buf)). A line is judged only once complete, so the result does not
// depend on how the bytes were split between reads.
//
// nginx itself checks only the first line's code and needs CRLF; this is
// stricter on codes and looser on bare LF.
func ParseSMTPReply(buf []byte, limit int) (code int, consumed int, res Result) {
	if limit <= 0 {
		panic("BUG: codec: reply limit must be positive")
	}
	w := buf
	if len(w) > limit {
		w = w[:limit]
	}
	prev := -1
	off := 0
	for {
		i := bytes.IndexByte(w[off:], '\n')
		if i < 0 {
			if len(buf) < limit {
				return 0, 0, NeedMore
			}
			return 0, len(buf), Invalid
		}
		line := w[off : off+i]
		off += i + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		c, ok := smtpReplyCode(line)
		if !ok || (prev >= 0 && c != prev) {
			return 0, off, Invalid
		}
		if len(line) == 3 || line[3] == ' ' {
			return c, off, Done
		}
		if line[3] != '-' {
			return 0, off, Invalid
		}
		prev = c
	}
}

func smtpReplyCode(line []byte) (int, bool) {
	if len(line) < 3 {
		return 0, false
	}
	c := 0
	for _, d := range line[:3] {
		if d < '0' || d > '9' {
			return 0, false
		}
		c = c*10 + int(d-'0')
	}
	return c, true
}

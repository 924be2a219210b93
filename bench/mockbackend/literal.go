package mockbackend

// imapLiteralMax bounds a literal's announced size; larger announcements
// are protocol errors.
const imapLiteralMax = 1 << 40

// literalSuffix reports whether line (ending in LF, maybe CRLF) ends with an
// IMAP literal announcement "{n}" or "{n+}" (RFC 9051 §4.3, RFC 7888), and
// returns n and whether the client waits for a continuation.
func literalSuffix(line []byte) (n int64, sync, ok bool) {
	i := len(line)
	if i > 0 && line[i-1] == '\n' {
		i--
	}
	if i > 0 && line[i-1] == '\r' {
		i--
	}
	if i < 3 || line[i-1] != '}' {
		return 0, false, false
	}
	i--
	sync = true
	if line[i-1] == '+' {
		sync = false
		i--
	}
	end := i
	for i > 0 && line[i-1] >= '0' && line[i-1] <= '9' {
		i--
	}
	if i == end || i == 0 || line[i-1] != '{' || end-i > 13 {
		return 0, false, false
	}
	for _, c := range line[i:end] {
		n = n*10 + int64(c-'0')
	}
	if n > imapLiteralMax {
		return 0, false, false
	}
	return n, sync, true
}

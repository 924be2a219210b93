package authhttp

import "bytes"

// authAnswerEndsAt reports whether an answer whose first bytes are rec
// (all of them if got == len(rec)) ends exactly at got bytes: its header
// block (up to the first empty line, LF or CRLF, as nginx reads it) and
// the body that bodyLen announces (a length, -1 chunked, -2 until the
// close). false covers both a body not all there and bytes beyond the end;
// either way the connection must not carry another request. A chunked
// body is judged only when all of it is in rec.
func authAnswerEndsAt(rec []byte, got, bodyLen int) bool {
	h := authHeaderEnd(rec)
	switch {
	case h < 0:
		return false
	case bodyLen >= 0:
		return got == h+bodyLen
	case bodyLen == -1 && got == len(rec):
		e := authChunkedEnd(rec[h:])
		return e >= 0 && h+e == got
	}
	return false
}

// authHeaderEnd returns the offset just past the empty line that ends the
// header block in b, or -1 when b holds no empty line.
func authHeaderEnd(b []byte) int {
	for p := 0; ; {
		i := bytes.IndexByte(b[p:], '\n')
		if i < 0 {
			return -1
		}
		line := b[p : p+i]
		p += i + 1
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			return p
		}
	}
}

// authChunkedEnd returns the length of the chunked body (RFC 9112 §7.1:
// chunks, the last chunk, trailer lines, the final CRLF) at the start of
// b, or -1 when b holds less, or something else. It is strict: sizes in
// hex with optional extensions, CRLF after each chunk's data.
func authChunkedEnd(b []byte) int {
	for p := 0; ; {
		i := bytes.IndexByte(b[p:], '\n')
		if i < 0 {
			return -1
		}
		line := b[p : p+i]
		p += i + 1
		size, digits := authHex(line)
		if digits == 0 || digits > authMaxChunkDigits {
			return -1
		}
		if rest := line[digits:]; len(rest) == 0 || rest[len(rest)-1] != '\r' || len(rest) > 1 && rest[0] != ';' {
			return -1
		}
		if size == 0 {
			for {
				i := bytes.IndexByte(b[p:], '\n')
				if i < 0 {
					return -1
				}
				line := b[p : p+i]
				p += i + 1
				if len(line) == 1 && line[0] == '\r' {
					return p
				}
			}
		}
		if len(b)-p < size+2 || b[p+size] != '\r' || b[p+size+1] != '\n' {
			return -1
		}
		p += size + 2
	}
}

// authMaxChunkDigits bounds a chunk size: a bigger chunk is no auth answer's.
const authMaxChunkDigits = 7

// authHex reads the hex digits at the start of b.
func authHex(b []byte) (n, digits int) {
	for ; digits < len(b); digits++ {
		c := b[digits] | 0x20 // lower case for letters; digits are unchanged
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		default:
			return n, digits
		}
	}
	return n, digits
}

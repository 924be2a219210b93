package mockauth

import (
	"bufio"
	"bytes"
	"errors"
)

// errBadRequest: the request line or a header could not be parsed.
var errBadRequest = errors.New("mockauth: bad request")

// authReqMax caps the header block; nginx's own requests stay under 1 KiB
// unless a client certificate is passed.
const authReqMax = 4096

// authRequest holds the fields of one auth_http request the mock looks at.
// The byte slices are owned by the request and reused between requests on
// one connection.
type authRequest struct {
	stats     bool // GET /stats
	http11    bool
	keepAlive bool // after this request the connection stays open
	method    []byte
	user      []byte
	pass      []byte
	salt      []byte
	protocol  []byte
}

func (q *authRequest) reset() {
	q.stats, q.http11, q.keepAlive = false, false, false
	q.method, q.user, q.pass = q.method[:0], q.user[:0], q.pass[:0]
	q.salt, q.protocol = q.salt[:0], q.protocol[:0]
}

var (
	authHdrMethod   = []byte("Auth-Method")
	authHdrUser     = []byte("Auth-User")
	authHdrPass     = []byte("Auth-Pass")
	authHdrSalt     = []byte("Auth-Salt")
	authHdrProtocol = []byte("Auth-Protocol")
	authHdrConn     = []byte("Connection")
	authKeepAlive   = []byte("keep-alive")
	authClose       = []byte("close")
	authStatsPath   = []byte("/stats")
)

// readAuthRequest reads one request head from r into q. It returns io.EOF
// when the peer closed cleanly between requests.
func readAuthRequest(r *bufio.Reader, q *authRequest) error {
	q.reset()
	line, err := r.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 {
			return err
		}
		return errBadRequest
	}
	if err := parseRequestLine(line, q); err != nil {
		return err
	}
	total := len(line)
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return errBadRequest
		}
		total += len(line)
		if total > authReqMax {
			return errBadRequest
		}
		line = trimEOL(line)
		if len(line) == 0 {
			return nil
		}
		if err := parseHeader(line, q); err != nil {
			return err
		}
	}
}

// parseRequestLine reads "GET <uri> HTTP/1.x" and sets the HTTP version
// defaults for keepalive.
func parseRequestLine(line []byte, q *authRequest) error {
	line = trimEOL(line)
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return errBadRequest
	}
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return errBadRequest
	}
	uri, proto := rest[:sp], rest[sp+1:]
	switch string(proto) {
	case "HTTP/1.1":
		q.http11, q.keepAlive = true, true
	case "HTTP/1.0":
	default:
		return errBadRequest
	}
	if q := bytes.IndexByte(uri, '?'); q >= 0 {
		uri = uri[:q]
	}
	q.stats = bytes.Equal(uri, authStatsPath)
	return nil
}

// parseHeader handles one "Name: value" line (without its line end).
func parseHeader(line []byte, q *authRequest) error {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return errBadRequest
	}
	name := line[:colon]
	val := bytes.TrimSpace(line[colon+1:])
	switch {
	case bytes.EqualFold(name, authHdrUser):
		q.user = unescapeMail(q.user[:0], val)
	case bytes.EqualFold(name, authHdrPass):
		q.pass = unescapeMail(q.pass[:0], val)
	case bytes.EqualFold(name, authHdrMethod):
		q.method = append(q.method[:0], val...)
	case bytes.EqualFold(name, authHdrSalt):
		q.salt = append(q.salt[:0], val...)
	case bytes.EqualFold(name, authHdrProtocol):
		q.protocol = append(q.protocol[:0], val...)
	case bytes.EqualFold(name, authHdrConn):
		if bytes.EqualFold(val, authKeepAlive) {
			q.keepAlive = true
		} else if bytes.EqualFold(val, authClose) {
			q.keepAlive = false
		}
	}
	return nil
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// unescapeMail undoes nginx's NGX_ESCAPE_MAIL_AUTH percent-encoding
// (reference §2.4); a malformed escape is kept as is.
func unescapeMail(dst, src []byte) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '%' && i+2 < len(src) {
			hi, ok1 := unhex(src[i+1])
			lo, ok2 := unhex(src[i+2])
			if ok1 && ok2 {
				dst = append(dst, hi<<4|lo)
				i += 2
				continue
			}
		}
		dst = append(dst, c)
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

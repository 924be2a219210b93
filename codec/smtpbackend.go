package codec

import (
	"encoding/base64"
	"strings"
)

// AppendXClient appends the XCLIENT command nginx sends to an SMTP backend
// (Postfix XCLIENT extension), CRLF included:
//
//	XCLIENT ADDR=<addr> [LOGIN=<xtext login>] NAME=<name>
//
// An address containing ':' is IPv6 and gets the "IPV6:" prefix
// ("ADDR=IPV6:::1"), as nginx does for AF_INET6 clients. LOGIN= is left
// out when login is empty (the caller also passes an empty login for
// proxy_smtp_auth on and the smtp_auth none path). The login is xtext
// encoded (nginx 1.29.2+, see AppendXtext); addr and name are copied as
// given: name is the resolved host or [UNAVAILABLE] / [TEMPUNAVAIL], and
// the caller must have checked a resolved name to be [A-Za-z0-9.-] only.
// nginx sends no PORT=, PROTO=, HELO=, DESTADDR= or DESTPORT=.
func AppendXClient(dst []byte, addr string, login []byte, name string) []byte {
	dst = append(dst, "XCLIENT ADDR="...)
	if strings.IndexByte(addr, ':') >= 0 && !strings.HasPrefix(addr, "IPV6:") {
		dst = append(dst, "IPV6:"...)
	}
	dst = append(dst, addr...)
	if len(login) > 0 {
		dst = append(dst, " LOGIN="...)
		dst = AppendXtext(dst, login)
	}
	dst = append(dst, " NAME="...)
	dst = append(dst, name...)
	return append(dst, '\r', '\n')
}

// AppendSMTPAuthPlain appends "AUTH PLAIN <base64(NUL user NUL pass)>\r\n"
// (RFC 4616 with an empty authorization identity), the command nginx sends
// to the backend with proxy_smtp_auth on. It does not allocate when dst has
// room for the raw credentials as well as the encoded line.
func AppendSMTPAuthPlain(dst []byte, user, pass []byte) []byte {
	dst = append(dst, "AUTH PLAIN "...)
	start := len(dst)
	raw := 2 + len(user) + len(pass)
	enc := base64.StdEncoding.EncodedLen(raw)
	// Stage the raw bytes after the room for the encoding so that the
	// encoder reads and writes disjoint ranges of one buffer.
	dst = append(dst, make([]byte, enc)...)
	dst = append(dst, 0)
	dst = append(dst, user...)
	dst = append(dst, 0)
	dst = append(dst, pass...)
	base64.StdEncoding.Encode(dst[start:start+enc], dst[start+enc:])
	clear(dst[start+enc:]) // the password must not linger past the line
	dst = dst[:start+enc]
	return append(dst, '\r', '\n')
}

package loop

import (
	"bytes"

	"mailproxy/codec"
)

// What the three backend login dialogues share: reading a reply line and
// failing the login as nginx does.

// backendLine returns the next complete line the backend sent (with its
// line end), or nil. A line longer than proxy_buffer is an error, as in
// nginx ("upstream sent too long response line").
func (s *session) backendLine() []byte {
	buf := s.bin()
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		if len(buf) >= s.cfg().ProxyBuffer {
			s.backendTooLong()
		}
		return nil
	}
	if i+1 > s.cfg().ProxyBuffer {
		s.backendTooLong()
		return nil
	}
	return buf[:i+1]
}

// backendTooLong ends a session whose backend sent a reply line longer
// than proxy_buffer during login, with nginx's log line.
func (s *session) backendTooLong() {
	s.errorf("upstream sent too long response line while reading response from upstream")
	s.internalError("upstream too long line")
}

// backendFail handles an unexpected backend reply during login. With
// proxy_pass_error_message on, the client gets kept (lines the protocol
// held back for it, IMAP's untagged line) and the line itself; else the
// internal-error line.
func (s *session) backendFail(line, kept []byte) {
	// nginx logs the line without its line end (checked against 1.22).
	logged := "upstream sent invalid response: \"" + printable(bytes.TrimRight(line, "\r\n")) +
		"\" while reading response from upstream"
	if s.cfg().ProxyPassErrorMessage {
		s.info(logged)
		s.write(kept)
		s.write(line)
		s.close("upstream rejected login")
		return
	}
	s.errorf(logged)
	s.internalError("upstream rejected login")
}

// backendOAuthResponse appends the base64 OAUTHBEARER / XOAUTH2 response
// that logs s in at the backend with the client's token (backendOAuth).
func (s *session) backendOAuthResponse(b []byte) []byte {
	return codec.AppendOAuthResponse(b, s.method == "xoauth2", s.backendLogin, s.backendPass)
}

// backendOAuthMech is the mechanism name for AUTHENTICATE / AUTH.
func (s *session) backendOAuthMech() string {
	if s.method == "xoauth2" {
		return "XOAUTH2"
	}
	return "OAUTHBEARER"
}

// backendOAuthDummy is the response to a backend's error challenge: the
// exchange must end before the backend says no (RFC 7628 §3.2.3).
func (s *session) backendOAuthDummy() []byte {
	if s.method == "xoauth2" {
		return []byte("\r\n")
	}
	return []byte("AQ==\r\n")
}

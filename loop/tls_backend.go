package loop

import (
	"bytes"
)

// TLS towards backends (a mailproxy extension; nginx has none, reference
// §5): proxy_ssl on speaks TLS from the first byte; proxy_starttls on
// upgrades the connection inside the login dialogue before any credential
// is sent:
//
//	IMAP  greeting, "mpstls STARTTLS" (a fixed internal tag), tagged OK
//	POP3  greeting, "STLS", +OK
//	SMTP  greeting, "EHLO <server_name>", 250, "STARTTLS", 220; after the
//	      handshake the dialogue starts over with EHLO
//
// The backend's certificate is verified against proxy_ssl_trusted_certificate
// (or the system roots) and proxy_ssl_name (default: the Auth-Server
// address) unless proxy_ssl_verify is off. Plaintext the backend sends
// after its go-ahead is dropped, as the client side does.

// Backend sub-states of the STARTTLS steps (clear of every protocol's).
const (
	imapBackendStarttlsSent uint8 = 50  // imapState.backend
	pop3BackendStlsSent     uint8 = 150 // session.state
	smtpBackendTLSEhlo      uint8 = 150
	smtpBackendTLSStarttls  uint8 = 151
)

var (
	imapBackendStarttlsTag = []byte("mpstls ")
	imapBackendStarttlsCmd = []byte("mpstls STARTTLS\r\n")
	pop3BackendStlsCmd     = []byte("STLS\r\n")
	smtpBackendStarttlsCmd = []byte("STARTTLS\r\n")
)

// tlsBackendOpened starts implicit TLS on a new backend connection.
// Called from the backend's OnOpen, after the protocol's loginDone.
func (s *session) tlsBackendOpened() {
	if s.tlsBackendImplicit() {
		s.tlsStartBackend(func() {})
	}
}

// tlsBackendUpgrade drops what the backend sent after its go-ahead and
// starts the handshake; next resumes the login dialogue over TLS.
func (s *session) tlsBackendUpgrade(next func()) {
	if s.backend != nil {
		_, _ = s.backend.Discard(-1)
	}
	s.tlsStartBackend(next)
}

// imapBackendStarttls handles the reply to "mpstls STARTTLS". It reports
// whether the dialogue loop should go on reading.
func (s *session) imapBackendStarttls(line []byte) bool {
	if bytes.HasPrefix(line, []byte("* ")) {
		s.bconsume(len(line))
		return true
	}
	if !bytes.HasPrefix(line, imapBackendStarttlsTag) || !bytes.HasPrefix(line[len(imapBackendStarttlsTag):], []byte("OK")) {
		s.backendFail(line)
		return false
	}
	s.tlsBackendUpgrade(func() { imapBackendSendLogin(s) })
	return false
}

// pop3BackendStls handles the reply to STLS (the caller checked "+OK").
func (s *session) pop3BackendStls() {
	s.tlsBackendUpgrade(func() {
		s.pop3BackendSend("USER ", s.backendLogin)
		s.state = pop3BackendUserSent
	})
}

// smtpBackendTLSStep runs the EHLO/STARTTLS steps of proxy_starttls. It
// reports whether it handled the reply; the caller stops reading when the
// session left the backend dialogue or the handshake started.
func (s *session) smtpBackendTLSStep(code int, reply []byte) bool {
	switch s.state {
	case smtpBackendGreeting:
		if code != 220 || !s.tlsBackendStarttls() {
			return false
		}
		s.bconsume(len(reply))
		b := append(s.loop.wbuf[:0], "EHLO "...)
		b = append(b, s.cfg().ServerName...)
		b = append(b, smtpCRLF...)
		s.loop.wbuf = b
		s.bwrite(b)
		s.state = smtpBackendTLSEhlo
	case smtpBackendTLSEhlo:
		if code != 250 {
			s.smtpBackendFail(reply)
			return true
		}
		s.bconsume(len(reply))
		s.bwrite(smtpBackendStarttlsCmd)
		s.state = smtpBackendTLSStarttls
	case smtpBackendTLSStarttls:
		if code != 220 {
			s.smtpBackendFail(reply)
			return true
		}
		s.state = smtpBackendGreeting
		s.tlsBackendUpgrade(func() {
			// As if the greeting had just come: EHLO again, over TLS.
			if s.smtpBackendSend(smtpBackendHelo) {
				s.state = smtpBackendHelo
			}
		})
	default:
		return false
	}
	return true
}

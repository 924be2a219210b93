package loop

import (
	"bytes"
	"strconv"
)

// POP3 backend login (reference §3.2.2): expect "+OK" greeting, send
// "USER <login>", expect "+OK", send "PASS <password>", expect "+OK",
// relay that last line to the client as the answer to its own auth
// command, then relay. The backend always gets USER/PASS, whatever the
// client used, so APOP/CRAM-MD5/EXTERNAL need Auth-Pass (backendNeedsPass).
// Neither APOP, AUTH nor XCLIENT is used towards the backend. With
// proxy_starttls (a mailproxy extension) STLS comes first.

// pop3BackendStep is the backend reply awaited.
type pop3BackendStep uint8

const (
	pop3BackendGreeting pop3BackendStep = iota
	pop3BackendStlsSent                 // proxy_starttls: "+OK" to STLS
	pop3BackendUserSent
	pop3BackendPassSent
	pop3BackendOAuthSent   // AUTH with the client's token: "+OK"
	pop3BackendXClientSent // proxy_forward_client: "+OK" (or -ERR)
)

var (
	pop3BackendOK      = []byte("+OK")
	pop3BackendStlsCmd = []byte("STLS\r\n")
)

func pop3LoginDone(s *session) {
	s.pop3.backend = pop3BackendGreeting
}

func pop3BackendData(s *session) {
	for s.phase == PhaseBackendLogin && !s.closed && s.backend != nil {
		line := s.backendLine()
		if line == nil {
			return
		}
		if s.pop3.backend == pop3BackendXClientSent {
			s.bconsume(len(line))
			if !bytes.HasPrefix(line, pop3BackendOK) {
				s.info("upstream did not take the client's address (XCLIENT): \"" + printable(bytes.TrimRight(line, "\r\n")) + "\"")
			}
			s.pop3BackendLogin()
			continue
		}
		if s.pop3.backend == pop3BackendOAuthSent && bytes.HasPrefix(line, []byte("+ ")) {
			// The backend's error challenge: end the exchange, its -ERR
			// follows.
			s.bconsume(len(line))
			s.bwrite(s.backendOAuthDummy())
			continue
		}
		if !bytes.HasPrefix(line, pop3BackendOK) {
			s.backendFail(line, nil)
			return
		}
		n := len(line)
		switch s.pop3.backend {
		case pop3BackendGreeting:
			s.bconsume(n)
			if s.tlsBackendStarttls() {
				s.bwrite(pop3BackendStlsCmd)
				s.pop3.backend = pop3BackendStlsSent
				continue
			}
			s.pop3BackendFirst()
		case pop3BackendStlsSent:
			s.tlsBackendUpgrade(s.pop3BackendFirst)
			return
		case pop3BackendUserSent:
			s.bconsume(n)
			s.pop3BackendSend("PASS ", s.backendPass)
			s.pop3.backend = pop3BackendPassSent
		case pop3BackendPassSent, pop3BackendOAuthSent:
			s.write(line)
			s.bconsume(n)
			if s.closed {
				return
			}
			s.startRelay()
			return
		default:
			panic("BUG: pop3 backend login in step " + strconv.Itoa(int(s.pop3.backend)))
		}
	}
}

// pop3BackendFirst sends what follows the greeting (and STLS): XCLIENT
// with the client's address (proxy_forward_client), else the login.
func (s *session) pop3BackendFirst() {
	if s.cfg().ProxyForwardClient {
		b := s.pop3ForwardCmd(s.loop.wbuf[:0])
		s.loop.wbuf = b
		s.bwrite(b)
		s.pop3.backend = pop3BackendXClientSent
		return
	}
	s.pop3BackendLogin()
}

// pop3BackendLogin sends the first login command: USER, or AUTH with the
// client's OAuth mechanism and token.
func (s *session) pop3BackendLogin() {
	if s.backendOAuth {
		b := append(s.loop.wbuf[:0], "AUTH "...)
		b = append(b, s.backendOAuthMech()...)
		b = append(b, ' ')
		b = s.backendOAuthResponse(b)
		b = append(b, "\r\n"...)
		s.loop.wbuf = b
		s.bwrite(b)
		wipe(b)
		s.pop3.backend = pop3BackendOAuthSent
		return
	}
	s.pop3BackendSend("USER ", s.backendLogin)
	s.pop3.backend = pop3BackendUserSent
}

// pop3BackendSend writes "<verb><arg>\r\n" to the backend and wipes the
// scratch copy (it may hold the password).
func (s *session) pop3BackendSend(verb string, arg []byte) {
	if !credentialClean(arg) {
		// Only auth_http's Auth-User / Auth-Pass can get here with such
		// bytes (the client's are refused in sasl.go): never let them
		// split the line.
		s.errorf("auth http server sent a login or password with CR, LF or NUL")
		s.internalError("invalid backend credentials")
		return
	}
	b := append(s.loop.wbuf[:0], verb...)
	b = append(b, arg...)
	b = append(b, "\r\n"...)
	s.loop.wbuf = b
	s.bwrite(b)
	wipe(b)
}

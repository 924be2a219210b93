package loop

import (
	"strconv"

	"mailproxy/codec"
)

// SMTP backend dialogue (reference §3.3.3), in nginx's order:
//
//	greeting                      expect 220
//	EHLO <sn> (HELO <sn> when xclient off and the client did not EHLO)
//	                              expect 250
//	XCLIENT ADDR= [LOGIN=] NAME=  (xclient on)       expect 220 or 250
//	<client's HELO/EHLO>          (xclient on, client sent one)
//	                              expect 220 or 250
//	AUTH PLAIN <b64>              (proxy_smtp_auth on, not the none path)
//	                              expect 235
//	<client's MAIL line>          (none path)        expect 250
//	<client's first RCPT line>    (none path)        any reply, relayed
//
// then the client gets "235 2.0.0 OK" (AUTH) or the backend's RCPT reply
// (none path), and the session relays. The backend's other replies are
// swallowed: the client only ever saw mailproxy's EHLO reply.
//
// proxy_starttls (a mailproxy extension) inserts, after the greeting,
// "EHLO <server_name>" (expect 250) and "STARTTLS" (expect 220); after
// the handshake the dialogue starts over with EHLO.

// smtpBackendStep is the step whose reply is awaited. The steps from
// smtpBackendGreeting to smtpBackendDone are in dialogue order (a step
// that does not apply is skipped); the STARTTLS steps sit outside it.
type smtpBackendStep uint8

const (
	smtpBackendGreeting smtpBackendStep = iota
	smtpBackendHelo
	smtpBackendXClient
	smtpBackendClientHelo
	smtpBackendAuth
	smtpBackendMail
	smtpBackendRcpt
	smtpBackendDone

	smtpBackendTLSEhlo     // proxy_starttls: 250 to EHLO
	smtpBackendTLSStarttls // proxy_starttls: 220 to STARTTLS
)

var smtpBackendStarttlsCmd = []byte("STARTTLS\r\n")

// smtpNoLogin is the XCLIENT LOGIN= value for the none path and for
// proxy_smtp_auth on: none, LOGIN= is left out.
var smtpNoLogin []byte

func smtpLoginDone(s *session) {
	s.smtp.backend = smtpBackendGreeting
}

// smtpStepApplies says whether the dialogue includes step for s.
func (s *session) smtpStepApplies(step smtpBackendStep) bool {
	cfg := s.cfg()
	none := s.method == "none"
	switch step {
	case smtpBackendHelo:
		return true
	case smtpBackendXClient:
		return cfg.XClient
	case smtpBackendClientHelo:
		return cfg.XClient && len(s.smtp.helo) > 0
	case smtpBackendAuth:
		return !none && cfg.ProxySMTPAuth
	case smtpBackendMail, smtpBackendRcpt:
		return none
	}
	return false
}

// smtpReplyAccepted is nginx's check of the reply to each step.
func smtpReplyAccepted(step smtpBackendStep, code int) bool {
	switch step {
	case smtpBackendGreeting:
		return code == 220
	case smtpBackendHelo, smtpBackendMail:
		return code == 250
	case smtpBackendXClient, smtpBackendClientHelo:
		return code == 220 || code == 250
	case smtpBackendAuth:
		return code == 235
	case smtpBackendRcpt:
		return true
	}
	return false
}

func smtpBackendData(s *session) {
	limit := s.cfg().ProxyBuffer
	for s.phase == PhaseBackendLogin && !s.closed && s.backend != nil {
		buf := s.bin()
		if len(buf) == 0 {
			return
		}
		code, n, res := codec.ParseSMTPReply(buf, limit)
		switch res {
		case codec.NeedMore:
			return
		case codec.Invalid:
			if n >= limit {
				s.backendTooLong()
				return
			}
			s.smtpBackendFail(buf[:n])
			return
		}
		reply := buf[:n]
		if s.smtpBackendTLSStep(code, reply) { // proxy_starttls
			if s.closed || s.btls != nil {
				return
			}
			continue
		}
		step := s.smtp.backend
		if step == smtpBackendAuth && code == 334 && s.backendOAuth {
			// The backend's error challenge: end the exchange, its 535
			// follows.
			s.bconsume(n)
			s.bwrite(s.backendOAuthDummy())
			continue
		}
		if !smtpReplyAccepted(step, code) {
			s.smtpBackendFail(reply)
			return
		}
		next := step + 1
		for next < smtpBackendDone && !s.smtpStepApplies(next) {
			next++
		}
		if next == smtpBackendDone {
			s.smtpBackendFinish(reply)
			return
		}
		s.bconsume(n)
		if !s.smtpBackendSend(next) {
			return
		}
		s.smtp.backend = next
	}
}

// smtpBackendSend writes the command of step to the backend. It reports
// false when the session was closed instead.
func (s *session) smtpBackendSend(step smtpBackendStep) bool {
	cfg := s.cfg()
	b := s.loop.wbuf[:0]
	switch step {
	case smtpBackendHelo:
		// nginx: EHLO when xclient is on or the client used EHLO.
		if cfg.XClient || (len(s.smtp.helo) > 0 && s.smtp.helo[0] == 'E') {
			b = append(b, "EHLO "...)
		} else {
			b = append(b, "HELO "...)
		}
		b = append(b, cfg.ServerName...)
		b = append(b, smtpCRLF...)
	case smtpBackendXClient:
		login := s.backendLogin
		if cfg.ProxySMTPAuth {
			login = smtpNoLogin
		}
		b = codec.AppendXClient(b, s.clientIP, login, s.smtpHost()) // resolver.go
	case smtpBackendClientHelo:
		b = append(b, s.smtp.helo...)
		b = append(b, smtpCRLF...)
	case smtpBackendAuth:
		if len(s.backendPass) == 0 {
			s.errorf("no password available")
			s.internalError("no password")
			return false
		}
		if s.backendOAuth {
			b = append(b, "AUTH "...)
			b = append(b, s.backendOAuthMech()...)
			b = append(b, ' ')
			b = s.backendOAuthResponse(b)
			b = append(b, smtpCRLF...)
		} else {
			b = codec.AppendSMTPAuthPlain(b, s.backendLogin, s.backendPass)
		}
	case smtpBackendMail:
		from, _ := s.smtpEnvelope()
		b = append(b, from...)
		b = append(b, smtpCRLF...)
	case smtpBackendRcpt:
		_, to := s.smtpEnvelope()
		b = append(b, to...)
		b = append(b, smtpCRLF...)
	default:
		panic("BUG: smtp backend step " + strconv.Itoa(int(step)))
	}
	s.loop.wbuf = b
	s.bwrite(b)
	if step == smtpBackendAuth {
		wipe(b)
	}
	return !s.closed
}

// smtpBackendFinish answers the client's login and starts the relay:
// "235 2.0.0 OK" after AUTH, or the backend's own reply to the replayed
// RCPT on the none path.
func (s *session) smtpBackendFinish(reply []byte) {
	if s.method == "none" {
		s.write(reply)
	} else {
		s.write(smtpAuthOK)
	}
	s.bconsume(len(reply))
	s.smtp.envelope = s.smtp.envelope[:0]
	if s.closed {
		return
	}
	s.startRelay()
}

// smtpBackendFail reports a backend reply the dialogue did not expect
// (proxy_pass_error_message decides what the client sees).
func (s *session) smtpBackendFail(reply []byte) {
	s.backendFail(reply, nil)
}

// smtpBackendTLSStep runs the EHLO/STARTTLS steps of proxy_starttls. It
// reports whether it handled the reply; the caller stops reading when the
// session left the backend dialogue or the handshake started.
func (s *session) smtpBackendTLSStep(code int, reply []byte) bool {
	st := &s.smtp
	switch st.backend {
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
		st.backend = smtpBackendTLSEhlo
	case smtpBackendTLSEhlo:
		if code != 250 {
			s.smtpBackendFail(reply)
			return true
		}
		s.bconsume(len(reply))
		s.bwrite(smtpBackendStarttlsCmd)
		st.backend = smtpBackendTLSStarttls
	case smtpBackendTLSStarttls:
		if code != 220 {
			s.smtpBackendFail(reply)
			return true
		}
		st.backend = smtpBackendGreeting
		s.tlsBackendUpgrade(func() {
			// As if the greeting had just come: EHLO again, over TLS.
			if s.smtpBackendSend(smtpBackendHelo) {
				st.backend = smtpBackendHelo
			}
		})
	default:
		return false
	}
	return true
}

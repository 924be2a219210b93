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

// Backend sub-states (session.state): the step whose reply is awaited.
const (
	smtpBackendGreeting uint8 = 100 + iota
	smtpBackendHelo
	smtpBackendXClient
	smtpBackendClientHelo
	smtpBackendAuth
	smtpBackendMail
	smtpBackendRcpt
	smtpBackendDone
)

// smtpNoLogin is the XCLIENT LOGIN= value for the none path and for
// proxy_smtp_auth on: none, LOGIN= is left out.
var smtpNoLogin []byte

func smtpLoginDone(s *session) {
	s.state = smtpBackendGreeting
}

// smtpStepApplies says whether the dialogue includes step for s.
func (s *session) smtpStepApplies(step uint8) bool {
	cfg := s.cfg()
	none := s.method == "none"
	switch step {
	case smtpBackendHelo:
		return true
	case smtpBackendXClient:
		return cfg.XClient
	case smtpBackendClientHelo:
		return cfg.XClient && len(s.tag) > 0
	case smtpBackendAuth:
		return !none && cfg.ProxySMTPAuth
	case smtpBackendMail, smtpBackendRcpt:
		return none
	}
	return false
}

// smtpReplyAccepted is nginx's check of the reply to each step.
func smtpReplyAccepted(step uint8, code int) bool {
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
		if s.smtpBackendTLSStep(code, reply) { // proxy_starttls (tls_backend.go)
			if s.closed || s.btls != nil {
				return
			}
			continue
		}
		step := s.state
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
		s.state = next
	}
}

// smtpBackendSend writes the command of step to the backend. It reports
// false when the session was closed instead.
func (s *session) smtpBackendSend(step uint8) bool {
	cfg := s.cfg()
	b := s.loop.wbuf[:0]
	switch step {
	case smtpBackendHelo:
		// nginx: EHLO when xclient is on or the client used EHLO.
		if cfg.XClient || (len(s.tag) > 0 && s.tag[0] == 'E') {
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
		b = append(b, s.tag...)
		b = append(b, smtpCRLF...)
	case smtpBackendAuth:
		if len(s.backendPass) == 0 {
			s.errorf("no password available")
			s.internalError("no password")
			return false
		}
		b = codec.AppendSMTPAuthPlain(b, s.backendLogin, s.backendPass)
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
	s.reply = s.reply[:0]
	if s.closed {
		return
	}
	s.startRelay()
}

// smtpBackendFail reports a backend reply the dialogue did not expect
// (proxy_pass_error_message decides what the client sees). The none-path
// envelope in session.reply must not reach the client.
func (s *session) smtpBackendFail(reply []byte) {
	s.reply = s.reply[:0]
	s.backendFail(reply)
}

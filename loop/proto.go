package loop

import (
	"fmt"

	"mailproxy/codec"
	"mailproxy/config"
)

// protoOps is where the protocols differ: one set per server{} block, made
// by opsFor, with the protocol's replies built into its closures. Core
// code (session, auth, TLS, relay) calls these and never switches on the
// protocol. All run on the session's loop.
type protoOps struct {
	name        string
	greeting    func(s *session) []byte
	clientData  func(s *session) // pre-auth: parse and answer commands
	backendData func(s *session) // backend login dialogue
	authFailed  func(s *session) // send the failure line (s.failText, s.failCode)
	tempFail    func(s *session) // pool saturated: temporary failure, stay in pre-auth
	loginDone   func(s *session) // auth OK: prepare for the backend dialogue
	saslInvalid func(s *session) // bad SASL response: protocol error, back to commands
	// resetPreAuth forgets what the plaintext dialogue set up, after
	// STARTTLS (reference §3: the dialogue starts over).
	resetPreAuth func(s *session)
	// onTimer, if set, is offered a pre-auth timer first and reports
	// whether it handled it (smtp_greeting_delay).
	onTimer func(s *session) bool
	// authRequest, if set, adds protocol fields to an auth_http request
	// (Auth-Salt, Client-Host, Auth-SMTP-Helo/From/To).
	authRequest func(s *session, r *codec.AuthRequest)
	// clientBuffer is the client command buffer size (imap_client_buffer,
	// pop3_client_buffer, smtp_client_buffer), also the client→backend
	// high-water mark in relay.
	clientBuffer func(c *config.Server) int
	// needsPass reports whether auth_http must send Auth-Pass for a login
	// by method: the backend is logged in with a password the client
	// did not give (APOP, CRAM-MD5, EXTERNAL towards IMAP and POP3).
	needsPass func(method string) bool

	sasl          *saslDialect // the protocol's SASL prompts (sasl.go)
	internalError []byte       // the internal-error line, then close
	goodbye       []byte       // sent to sessions still in pre-auth when draining
	certError     string       // prefix of the client-certificate failure line
	// refuse is the start of the temporary-failure line that refuses a
	// connection at open (edge.go); the reason follows.
	refuse string
	// lazyAuth: the greeting needs no sessionAuth, so a plaintext
	// connection that never talks has none (IMAP; session.go).
	lazyAuth bool
}

// preAuthRead is the pre-auth loop the three protocols share: one step at
// a time over the client's bytes (a command, or a SASL response while an
// exchange runs) until nothing complete is left, the step says stop (auth
// started, the session closed), or the client's output is over its bound
// (preAuthBlocked). mayRead, when not nil, is asked before each step.
func (s *session) preAuthRead(d *saslDialect, step func(s *session, buf []byte, limit int) (int, bool),
	mayRead func(s *session, buf []byte) bool) {
	limit := s.clientBuffer()
	for s.phase == PhasePreAuth && !s.closed && s.client != nil && !s.preAuthBlocked() {
		buf := s.in()
		if len(buf) == 0 {
			return
		}
		if mayRead != nil && !mayRead(s, buf) {
			return
		}
		var n int
		var more bool
		if s.sasl == saslNone {
			n, more = step(s, buf, limit)
		} else {
			n, more = s.saslReadStep(d, buf, limit)
		}
		if n > 0 && !s.closed {
			s.consume(n)
		}
		if !more {
			return
		}
	}
}

// opsFor makes the protocol ops of server c, or says why it cannot serve.
func opsFor(c *config.Server) (*protoOps, error) {
	switch c.Protocol {
	case config.IMAP:
		return imapOpsFor(c), nil
	case config.POP3:
		return pop3OpsFor(c), nil
	case config.SMTP:
		return smtpOpsFor(c)
	}
	return nil, fmt.Errorf("protocol %q is not supported by mailproxy in %s:%d", c.Protocol.String(), c.File, c.Line)
}

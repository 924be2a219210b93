package loop

import (
	"strings"

	"mailproxy/codec"
	"mailproxy/config"
)

// POP3 pre-auth (reference §3.2.1). Wire strings are nginx's, byte for
// byte. The one deliberate difference: the command buffer is
// pop3_client_buffer (default 4096 bytes, config.POP3ClientBuffer) instead
// of nginx's fixed 128 bytes, so long passwords and OAuth-sized SASL
// responses fit (nginx PR #1590).

var (
	pop3Greeting       = []byte("+OK POP3 ready\r\n")
	pop3OK             = []byte("+OK\r\n")
	pop3Invalid        = []byte("-ERR invalid command\r\n")
	pop3InternalError  = []byte("-ERR internal server error\r\n")
	pop3PlainPrompt    = []byte("+ \r\n")
	pop3UserPrompt     = []byte("+ VXNlcm5hbWU6\r\n")
	pop3PassPrompt     = []byte("+ UGFzc3dvcmQ6\r\n")
	pop3Busy           = []byte("-ERR [SYS/TEMP] server busy, try again later\r\n")
	pop3Goodbye        = []byte("-ERR [SYS/TEMP] server shutting down\r\n") // RFC 3206
	pop3CapaHead       = "+OK Capability list follows\r\n"
	pop3AuthListHead   = "+OK methods supported:\r\n"
	pop3MultilineEnd   = ".\r\n"
	pop3GreetingPrefix = "+OK POP3 ready "
	pop3STLSLine       = "STLS\r\n"
)

// pop3Step is where the POP3 pre-auth dialogue is, outside a SASL
// exchange (the session's sasl step, sasl.go).
type pop3Step uint8

const (
	pop3Start     pop3Step = iota // any command
	pop3AfterUser                 // USER given: PASS, CAPA, NOOP, QUIT
)

// pop3State is the POP3 part of a session (in sessionAuth). Loop-owned.
type pop3State struct {
	step    pop3Step
	backend pop3BackendStep // pop3_backend.go
}

// pop3Conf is one POP3 server{} block's replies, built once at start-up.
type pop3Conf struct {
	capa     []byte // CAPA reply
	authList []byte // AUTH (no argument) reply
	salted   bool   // apop or cram-md5 enabled: salt in the greeting

	capaOn, capaOnly []byte // CAPA before STARTTLS: starttls on, only
}

// pop3Mechs lists the SASL mechanisms of a pop3_auth set in nginx's fixed
// order. As in nginx, "plain" enables and advertises LOGIN too.
func pop3Mechs(m config.AuthMethods) []string {
	var out []string
	if m&config.AuthPlain != 0 {
		out = append(out, "PLAIN", "LOGIN")
	}
	if m&config.AuthCramMD5 != 0 {
		out = append(out, "CRAM-MD5")
	}
	if m&config.AuthExternal != 0 {
		out = append(out, "EXTERNAL")
	}
	if m&config.AuthOAuthBearer != 0 {
		out = append(out, "OAUTHBEARER")
	}
	if m&config.AuthXOAuth2 != 0 {
		out = append(out, "XOAUTH2")
	}
	return out
}

func newPOP3Conf(c *config.Server) *pop3Conf {
	pc := &pop3Conf{salted: c.POP3Auth&(config.AuthAPOP|config.AuthCramMD5) != 0}
	mechs := pop3Mechs(c.POP3Auth)
	b := []byte(pop3CapaHead)
	for _, cp := range c.POP3Capabilities {
		b = append(b, cp...)
		b = append(b, "\r\n"...)
	}
	// The SASL line is always there, even as a bare "SASL" (nginx).
	b = append(b, "SASL"...)
	for _, m := range mechs {
		b = append(b, ' ')
		b = append(b, m...)
	}
	b = append(b, "\r\n"...)
	b = append(b, pop3MultilineEnd...)
	pc.capa = b

	b = []byte(pop3AuthListHead)
	for _, m := range mechs {
		b = append(b, m...)
		b = append(b, "\r\n"...)
	}
	pc.authList = append(b, pop3MultilineEnd...)
	if c.Starttls != config.StarttlsOff {
		pc.capaOn, pc.capaOnly = pop3StarttlsCapa(c, mechs)
	}
	return pc
}

// pop3StarttlsCapa returns the CAPA replies for starttls on (the usual
// list plus STLS after the SASL line) and starttls only (the capabilities
// without USER, no SASL line, STLS).
func pop3StarttlsCapa(c *config.Server, mechs []string) (on, only []byte) {
	on = []byte(pop3CapaHead)
	only = []byte(pop3CapaHead)
	for _, cp := range c.POP3Capabilities {
		on = append(append(on, cp...), "\r\n"...)
		if !strings.EqualFold(cp, "USER") {
			only = append(append(only, cp...), "\r\n"...)
		}
	}
	on = append(on, "SASL"...)
	for _, m := range mechs {
		on = append(append(on, ' '), m...)
	}
	on = append(on, "\r\n"...)
	on = append(append(on, pop3STLSLine...), pop3MultilineEnd...)
	only = append(append(only, pop3STLSLine...), pop3MultilineEnd...)
	return on, only
}

// capaFor picks the CAPA reply for the session's TLS state.
func (pc *pop3Conf) capaFor(s *session) []byte {
	if s.tls == nil && pc.capaOn != nil {
		switch s.cfg().Starttls {
		case config.StarttlsOn:
			return pc.capaOn
		case config.StarttlsOnly:
			return pc.capaOnly
		}
	}
	return pc.capa
}

func pop3OpsFor(c *config.Server) *protoOps {
	pc := newPOP3Conf(c)
	return &protoOps{
		name:          "pop3",
		greeting:      pc.greet,
		clientData:    pc.clientData,
		backendData:   pop3BackendData,
		authFailed:    pop3AuthFailed,
		tempFail:      pop3TempFail,
		loginDone:     pop3LoginDone,
		saslInvalid:   pop3SASLInvalid,
		resetPreAuth:  pop3ResetPreAuth,
		internalError: pop3InternalError,
		authRequest:   saltAuthRequest,
		goodbye:       pop3Goodbye,
		certError:     "-ERR ",
		sasl:          &pop3SASL,
		refuse:        "-ERR [SYS/TEMP] ", // RFC 3206
		clientBuffer:  func(c *config.Server) int { return oauthBuffer(c.POP3ClientBuffer, c.POP3Auth) },
		needsPass:     backendNeedsPass,
	}
}

// saltAuthRequest sends the session's salt, once made, with every method
// but plain, as nginx does (a session salted for APOP also sends it with
// EXTERNAL); codec.AppendAuthHeaders decides by method.
func saltAuthRequest(s *session, r *codec.AuthRequest) {
	if len(s.salt) > 0 && len(r.Salt) == 0 {
		r.Salt = append([]byte(nil), s.salt...)
	}
}

func (pc *pop3Conf) greet(s *session) []byte {
	s.pop3.step = pop3Start
	if !pc.salted {
		return pop3Greeting
	}
	s.ensureSalt()
	g := make([]byte, 0, len(pop3GreetingPrefix)+len(s.salt)+2)
	g = append(g, pop3GreetingPrefix...)
	g = append(g, s.salt...)
	return append(g, "\r\n"...)
}

// clientData parses and answers what the client sent before auth, one
// command at a time, until the buffer holds no complete line or auth
// starts (what follows then waits in gnet's buffer for the backend).
func (pc *pop3Conf) clientData(s *session) {
	s.preAuthRead(&pop3SASL, pc.commandStep, nil)
}

// commandStep handles the command at the start of buf; it returns the
// bytes to discard and whether to keep parsing.
func (pc *pop3Conf) commandStep(s *session, buf []byte, limit int) (int, bool) {
	var cmd codec.POP3Command
	res, n := codec.ParsePOP3(buf, limit, &cmd)
	switch res {
	case codec.NeedMore:
		return 0, false
	case codec.Invalid:
		s.pop3ParseError(codec.CommandTooLong(buf, n, limit))
		return n, !s.closed
	}
	s.armTimeout()
	if s.pop3.step == pop3AfterUser {
		// After USER only PASS, CAPA, NOOP and QUIT; anything else is
		// refused and forgets the USER (nginx, verified).
		switch cmd.Cmd {
		case codec.POP3Pass:
			if cmd.NArgs != 1 {
				s.pop3Refuse()
				return n, true
			}
			s.pass = append(s.pass[:0], cmd.Rest...)
			return n, s.startAuth("plain")
		case codec.POP3Capa:
			s.write(pc.capa)
		case codec.POP3Noop:
			s.write(pop3OK)
		case codec.POP3Quit:
			s.write(pop3OK)
			s.close("quit")
			return n, false
		default:
			s.pop3Refuse()
		}
		return n, !s.closed
	}
	switch cmd.Cmd {
	case codec.POP3User, codec.POP3Apop, codec.POP3Auth:
		if s.tlsOnly() {
			s.pop3Refuse() // starttls only: TLS first (reference §5)
			return n, !s.closed
		}
	}
	switch cmd.Cmd {
	case codec.POP3User:
		if cmd.NArgs != 1 {
			s.pop3Refuse()
			break
		}
		s.login = append(s.login[:0], cmd.Rest...)
		s.pop3.step = pop3AfterUser
		s.write(pop3OK)
	case codec.POP3Apop:
		if s.cfg().POP3Auth&config.AuthAPOP == 0 || cmd.NArgs != 2 {
			s.pop3Refuse()
			break
		}
		s.login = append(s.login[:0], cmd.Args[0]...)
		s.pass = append(s.pass[:0], cmd.Args[1]...)
		return n, s.startAuth("apop")
	case codec.POP3Auth:
		if cmd.NArgs == 0 {
			s.write(pc.authList)
			break
		}
		return n, s.pop3Auth(&cmd)
	case codec.POP3Capa:
		s.write(pc.capaFor(s))
	case codec.POP3Noop:
		s.write(pop3OK)
	case codec.POP3Quit:
		s.write(pop3OK)
		s.close("quit")
		return n, false
	case codec.POP3Stls:
		if !s.tlsStarttlsOK() {
			s.pop3Refuse()
			break
		}
		s.write(pop3OK)
		s.tlsStarttls() // drops what was pipelined after STLS
		return 0, false
	default:
		// PASS without USER.
		s.pop3Refuse()
	}
	return n, !s.closed
}

// pop3Refuse answers a command that parsed but is not valid here. Like
// nginx, it does not count towards max_errors.
func (s *session) pop3Refuse() {
	s.pop3.step = pop3Start
	s.write(pop3Invalid)
}

// pop3ParseError answers a line the parser rejected, counting it for
// max_errors; a line longer than the buffer closes the session.
func (s *session) pop3ParseError(tooLong bool) {
	s.pop3.step = pop3Start
	s.errors++
	s.srv.stats.InvalidCommand(s.loop.idx)
	s.write(pop3Invalid)
	if tooLong {
		s.info("client sent too long command")
		s.close("too long command")
		return
	}
	if s.errors >= s.cfg().MaxErrors {
		s.srv.stats.MaxErrorsClose()
		s.info("client sent too many invalid commands")
		s.close("max_errors")
	}
}

// pop3SASL is how POP3 speaks SASL (reference §3.2.1).
var pop3SASL = saslDialect{
	plainPrompt: pop3PlainPrompt, userPrompt: pop3UserPrompt, passPrompt: pop3PassPrompt, challenge: "+ ",
}

// pop3Auth starts a SASL exchange (AUTH <mech> [initial-response]).
// Returns whether to keep parsing.
func (s *session) pop3Auth(cmd *codec.POP3Command) bool {
	if cmd.NArgs > 2 {
		s.pop3Refuse()
		return true
	}
	var ir []byte
	hasIR := cmd.NArgs == 2
	if hasIR {
		ir = cmd.Args[1]
	}
	if ok, more := s.saslStart(&pop3SASL, cmd.Args[0], ir, hasIR, s.cfg().POP3Auth); ok {
		return more
	}
	s.pop3Refuse()
	return true
}

func pop3SASLInvalid(s *session) {
	s.sasl = saslNone
	s.pop3.step = pop3Start
	s.write(pop3Invalid)
}

func pop3AuthFailed(s *session) {
	s.pop3.step = pop3Start
	b := append(s.loop.wbuf[:0], "-ERR "...)
	b = append(b, s.failText...)
	b = append(b, "\r\n"...)
	s.loop.wbuf = b
	s.write(b)
}

func pop3TempFail(s *session) {
	s.pop3.step = pop3Start
	s.write(pop3Busy)
}

// pop3ResetPreAuth forgets a USER given before STLS.
func pop3ResetPreAuth(s *session) {
	s.pop3.step = pop3Start
}

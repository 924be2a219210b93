package loop

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"mailproxy/codec"
	"mailproxy/config"
)

// SMTP pre-auth (reference §3.3.1), with nginx's wire strings byte for
// byte.

var (
	smtpOK              = []byte("250 2.0.0 OK\r\n")
	smtpBye             = []byte("221 2.0.0 Bye\r\n")
	smtpInvalidCommand  = []byte("500 5.5.1 Invalid command\r\n")
	smtpInvalidArgument = []byte("501 5.5.4 Invalid argument\r\n")
	smtpAuthRequired    = []byte("530 5.7.1 Authentication required\r\n")
	smtpBadSequence     = []byte("503 5.5.1 Bad sequence of commands\r\n")
	smtpInvalidPipe     = []byte("503 5.5.0 Improper use of SMTP command pipelining\r\n")
	smtpInternalError   = []byte("451 4.3.2 Internal server error\r\n")
	smtpAuthOK          = []byte("235 2.0.0 OK\r\n")
	smtpPlainPrompt     = []byte("334 \r\n")
	smtpUserPrompt      = []byte("334 VXNlcm5hbWU6\r\n")
	smtpPassPrompt      = []byte("334 UGFzc3dvcmQ6\r\n")
	smtpAuthBusy        = []byte("454 4.7.0 Temporary authentication failure, try again later\r\n")
	smtpRcptBusy        = []byte("451 4.3.2 Server busy, try again later\r\n")
	smtpGoodbye         = []byte("421 4.3.2 Service shutting down\r\n") // RFC 5321 §3.8
	smtpDefaultFailCode = "535 5.7.0"
	// smtpBadCredentialsCode answers credentials mailproxy refuses itself
	// (RFC 4954 §6: invalid credentials); IMAP and POP3 ignore it.
	smtpBadCredentialsCode = "535 5.7.8"
	smtpCRLF               = []byte("\r\n")
	smtpStartTLSReply      = []byte("220 2.0.0 Start TLS\r\n")
)

// smtpStep is where the SMTP pre-auth dialogue is, outside a SASL
// exchange (the session's sasl step, sasl.go).
type smtpStep uint8

const (
	smtpCommand         smtpStep = iota // reading commands
	smtpGreetingPending                 // smtp_greeting_delay running: not greeted yet
)

// smtpState is the SMTP part of a session (in sessionAuth). Loop-owned.
type smtpState struct {
	step    smtpStep
	backend smtpBackendStep // smtp_backend.go

	// helo is the HELO/EHLO line as it is replayed to the backend, "EHLO
	// <arg>" or "HELO <arg>" (no line end). As in nginx the verb stays
	// EHLO once the client has used EHLO.
	helo []byte
	// envelope is the smtp_auth none path's MAIL line, then its first
	// RCPT line, each with its line end, as codec.SMTPCommand.Replay gives
	// them.
	envelope []byte
}

// smtpConf is one SMTP server{} block's replies, built once at start-up.
type smtpConf struct {
	greeting []byte // "220 <sn> ESMTP ready"
	helo     []byte // "250 <sn>"
	ehlo     []byte // the EHLO reply
	delay    time.Duration

	ehloOn, ehloOnly []byte // EHLO before STARTTLS: starttls on, only

	res *resolverRT // resolver (resolver.go); nil without
}

// smtpUnsupportedCaps are extensions mailproxy cannot honour before
// authentication: a client told CHUNKING sends BDAT with its payload
// right behind it, without waiting for a reply, and before login that
// payload would reach the command parser. nginx accepts them and loses
// mail (Mailu #1766); mailproxy refuses the configuration.
var smtpUnsupportedCaps = []string{"CHUNKING", "BINARYMIME"}

// smtpCheckCaps refuses smtp_capabilities that cannot be honoured.
func smtpCheckCaps(c *config.Server) error {
	for _, cp := range c.SMTPCapabilities {
		word, _, _ := strings.Cut(cp, " ")
		for _, bad := range smtpUnsupportedCaps {
			if strings.EqualFold(word, bad) {
				return &smtpConfigError{cap: cp, file: c.File, line: c.Line}
			}
		}
	}
	return nil
}

type smtpConfigError struct {
	cap, file string
	line      int
}

func (e *smtpConfigError) Error() string {
	return `"` + e.cap + `" in smtp_capabilities cannot be honoured: before login mailproxy cannot take BDAT, ` +
		`so clients would lose mail; remove it (the backend still offers it after AUTH) in ` +
		e.file + ":" + strconv.Itoa(e.line)
}

// smtpEHLOReply builds nginx's EHLO reply: "250-<sn>", one "250-<cap>"
// line per smtp_capabilities item, then "250 AUTH <mechs>" with the
// mechanisms in nginx's fixed order; the last line has "250 ". With
// neither capabilities nor mechanisms it is just "250 <sn>".
func smtpEHLOReply(c *config.Server) []byte {
	lines := append([]string{c.ServerName}, c.SMTPCapabilities...)
	if auth := smtpAuthLine(c); auth != "" {
		lines = append(lines, auth)
	}
	return smtpReplyLines(lines)
}

// smtpStarttlsEHLO returns the EHLO replies for starttls on (the AUTH
// line, then "250 STARTTLS" last) and starttls only (no AUTH line).
func smtpStarttlsEHLO(c *config.Server) (on, only []byte) {
	lines := append([]string{c.ServerName}, c.SMTPCapabilities...)
	withAuth := lines
	if auth := smtpAuthLine(c); auth != "" {
		withAuth = append(append([]string(nil), lines...), auth)
	}
	return smtpReplyLines(append(withAuth, "STARTTLS")), smtpReplyLines(append(lines, "STARTTLS"))
}

// ehloFor picks the EHLO reply for the session's TLS state.
func (sc *smtpConf) ehloFor(s *session) []byte {
	if s.tls == nil && sc.ehloOn != nil {
		switch s.cfg().Starttls {
		case config.StarttlsOn:
			return sc.ehloOn
		case config.StarttlsOnly:
			return sc.ehloOnly
		}
	}
	return sc.ehlo
}

// smtpAuthLine is "AUTH <mechs>" for smtp_auth, or "" when it lists none.
func smtpAuthLine(c *config.Server) string {
	if b := appendMechs([]byte("AUTH"), c.SMTPAuth, ""); len(b) > len("AUTH") {
		return string(b)
	}
	return ""
}

// smtpReplyLines makes a 250 reply of lines: "250-" on all but the last,
// which gets "250 ".
func smtpReplyLines(lines []string) []byte {
	var b []byte
	for i, l := range lines {
		b = append(b, "250"...)
		if i == len(lines)-1 {
			b = append(b, ' ')
		} else {
			b = append(b, '-')
		}
		b = append(append(b, l...), "\r\n"...)
	}
	return b
}

func smtpOpsFor(c *config.Server) (*protoOps, error) {
	if err := smtpCheckCaps(c); err != nil {
		return nil, err
	}
	sc := &smtpConf{
		greeting: []byte("220 " + c.ServerName + " ESMTP ready\r\n"),
		helo:     []byte("250 " + c.ServerName + "\r\n"),
		ehlo:     smtpEHLOReply(c),
		delay:    c.SMTPGreetingDelay,
		res:      newResolverRT(c),
	}
	if c.Starttls != config.StarttlsOff {
		sc.ehloOn, sc.ehloOnly = smtpStarttlsEHLO(c)
	}
	return &protoOps{
		name:          "smtp",
		greeting:      sc.greet,
		clientData:    sc.clientData,
		backendData:   smtpBackendData,
		authFailed:    smtpAuthFailed,
		tempFail:      smtpTempFail,
		loginDone:     smtpLoginDone,
		saslInvalid:   smtpSASLInvalid,
		resetPreAuth:  smtpResetPreAuth,
		internalError: smtpInternalError,
		onTimer:       sc.onTimer,
		authRequest:   smtpAuthRequest,
		goodbye:       smtpGoodbye,
		certError:     "421 4.7.1 ",
		sasl:          &smtpSASL,
		refuse:        "421 4.7.0 ", // RFC 3463: security or policy status
		clientBuffer:  func(c *config.Server) int { return oauthBuffer(c.SMTPClientBuffer, c.SMTPAuth) },
		// The SMTP backend is logged in by XCLIENT or AUTH PLAIN with
		// what auth_http gave; a missing password is caught there.
		needsPass: func(string) bool { return false },
	}, nil
}

func (sc *smtpConf) greet(s *session) []byte {
	s.smtp.helo = s.smtp.helo[:0]
	s.smtp.envelope = s.smtp.envelope[:0]
	if sc.res != nil && s.clientHost == "" && sc.resolveStart(s) {
		return nil // resolver.go greets when the lookups end
	}
	if sc.delay <= 0 {
		s.smtp.step = smtpCommand
		return sc.greeting
	}
	// smtp_greeting_delay: hold the greeting back; a client that talks
	// first is an early talker and is dropped (clientData).
	s.smtp.step = smtpGreetingPending
	s.loop.arm(s, time.Now().Add(sc.delay).UnixNano())
	return nil
}

// onTimer sends the delayed greeting. It reports whether it handled the
// timer; other pre-auth timers are the `timeout`.
func (sc *smtpConf) onTimer(s *session) bool {
	if s.phase != PhasePreAuth || s.wait != waitNone || s.smtp.step != smtpGreetingPending {
		return false
	}
	s.smtp.step = smtpCommand
	s.armTimeout()
	s.write(sc.greeting)
	return true
}

func (sc *smtpConf) clientData(s *session) {
	s.preAuthRead(&smtpSASL, sc.commandStep, smtpMayRead)
}

// smtpMayRead is SMTP's check before each pre-auth step: nothing is read
// while the client's lookups run (resolver.go), and a client that talks
// before the greeting is refused.
func smtpMayRead(s *session, buf []byte) bool {
	if s.wait == waitResolver {
		return false // not read until the lookups end (resolver.go)
	}
	if s.smtp.step == smtpGreetingPending {
		s.info("client was rejected before greeting: \"" + clientText(buf) + "\"")
		s.write(smtpInvalidPipe)
		s.close("early talker")
		return false
	}
	return true
}

// commandStep handles the command at the start of buf; it returns the
// bytes to discard and whether to keep parsing.
func (sc *smtpConf) commandStep(s *session, buf []byte, limit int) (int, bool) {
	var cmd codec.SMTPCommand
	res, n := codec.ParseSMTP(buf, limit, &cmd)
	switch res {
	case codec.NeedMore:
		return 0, false
	case codec.Invalid:
		s.smtpParseError(&cmd, codec.CommandTooLong(buf, n, limit))
		return n, !s.closed
	}
	s.armTimeout()
	cfg := s.cfg()
	st := &s.smtp
	switch cmd.Cmd {
	case codec.SMTPHelo, codec.SMTPEhlo:
		if cmd.NArgs != 1 {
			s.write(smtpInvalidArgument)
			break
		}
		verb := "HELO "
		if cmd.Cmd == codec.SMTPEhlo || bytes.HasPrefix(st.helo, []byte("EHLO ")) {
			verb = "EHLO "
		}
		st.helo = append(append(st.helo[:0], verb...), cmd.Args[0]...)
		st.envelope = st.envelope[:0] // HELO/EHLO starts over: no MAIL, no RCPT
		if cmd.Cmd == codec.SMTPHelo {
			s.write(sc.helo)
		} else {
			s.write(sc.ehloFor(s))
		}
	case codec.SMTPAuth:
		if s.tlsOnly() {
			s.write(smtpInvalidCommand) // starttls only: TLS first
			break
		}
		if cmd.NArgs == 0 {
			s.write(smtpInvalidArgument)
			break
		}
		return n, s.smtpAuth(&cmd)
	case codec.SMTPMail:
		switch {
		case cfg.SMTPAuth&config.AuthNone == 0:
			s.info("client was rejected: \"" + printable(cmd.Line) + "\"")
			s.write(smtpAuthRequired)
		case len(st.envelope) > 0:
			s.write(smtpBadSequence)
		case cmd.NArgs == 0:
			s.write(smtpInvalidArgument)
		default:
			st.envelope = append(append(st.envelope[:0], cmd.Replay...), smtpCRLF...)
			s.write(smtpOK)
		}
	case codec.SMTPRcpt:
		switch {
		case len(st.envelope) == 0:
			s.write(smtpBadSequence)
		case cmd.NArgs == 0:
			s.write(smtpInvalidArgument)
		default:
			// The first RCPT of the none path is the login: auth_http
			// decides, the backend answers this RCPT (smtp_backend.go).
			st.envelope = append(append(st.envelope, cmd.Replay...), smtpCRLF...)
			s.login = s.login[:0]
			s.pass = s.pass[:0]
			return n, s.startAuth("none")
		}
	case codec.SMTPRset:
		st.envelope = st.envelope[:0]
		s.write(smtpOK)
	case codec.SMTPNoop:
		s.write(smtpOK)
	case codec.SMTPQuit:
		s.write(smtpBye)
		s.close("quit")
		return n, false
	case codec.SMTPStarttls:
		if !s.tlsStarttlsOK() {
			s.write(smtpInvalidCommand)
			break
		}
		s.write(smtpStartTLSReply)
		s.tlsStarttls() // drops what was pipelined after STARTTLS
		return 0, false
	default:
		// VRFY, EXPN, HELP: refused, not counted towards max_errors
		// (nginx).
		s.write(smtpInvalidCommand)
	}
	return n, !s.closed
}

// smtpParseError answers a line the parser rejected, counting it for
// max_errors. A line longer than smtp_client_buffer closes the session,
// and so does BDAT: its payload follows without waiting for a reply and
// must not be read as commands.
func (s *session) smtpParseError(cmd *codec.SMTPCommand, tooLong bool) {
	s.errors++
	s.srv.stats.InvalidCommand(s.loop.idx)
	s.write(smtpInvalidCommand)
	switch {
	case tooLong:
		s.info("client sent too long command")
		s.close("too long command")
	case smtpIsBDAT(cmd.Line):
		s.info("client sent BDAT before authentication")
		s.close("bdat before auth")
	case s.errors >= s.cfg().MaxErrors:
		s.srv.stats.MaxErrorsClose()
		s.info("client sent too many invalid commands")
		s.close("max_errors")
	}
}

func smtpIsBDAT(line []byte) bool {
	return len(line) >= 5 && (line[0]|0x20) == 'b' && (line[1]|0x20) == 'd' &&
		(line[2]|0x20) == 'a' && (line[3]|0x20) == 't' && (line[4] == ' ' || line[4] == '\r' || line[4] == '\n')
}

// smtpSASL is how SMTP speaks SASL (reference §3.3.1).
var smtpSASL = saslDialect{
	plainPrompt: smtpPlainPrompt, userPrompt: smtpUserPrompt, passPrompt: smtpPassPrompt, challenge: "334 ",
}

// smtpAuth starts a SASL exchange (AUTH <mech> [initial-response]).
// Returns whether to keep parsing.
func (s *session) smtpAuth(cmd *codec.SMTPCommand) bool {
	if cmd.NArgs > 2 {
		s.write(smtpInvalidCommand)
		return true
	}
	var ir []byte
	hasIR := cmd.NArgs == 2
	if hasIR {
		ir = cmd.Args[1]
	}
	// "AUTH LOGIN <b64user>" is the Microsoft form (nginx 0.7.34).
	if ok, more := s.saslStart(&smtpSASL, cmd.Args[0], ir, hasIR, s.cfg().SMTPAuth); ok {
		return more
	}
	s.write(smtpInvalidCommand)
	return true
}

func smtpSASLInvalid(s *session) {
	s.sasl = saslNone
	s.write(smtpInvalidCommand)
}

// smtpResetPreAuth forgets the stored HELO, MAIL and RCPT after STARTTLS,
// as nginx does.
func smtpResetPreAuth(s *session) {
	s.smtp.helo = s.smtp.helo[:0]
	s.smtp.envelope = s.smtp.envelope[:0]
}

// smtpAuthFailed sends "<Auth-Error-Code or 535 5.7.0> <Auth-Status>". On
// the none path the failed RCPT is forgotten and the MAIL kept, so the
// client may try another recipient (Auth-Wait) in the same transaction.
func smtpAuthFailed(s *session) {
	s.smtpForgetRcpt()
	code := s.failCode
	if code == "" {
		code = smtpDefaultFailCode
	}
	b := append(s.loop.wbuf[:0], code...)
	b = append(b, ' ')
	b = append(b, s.failText...)
	b = append(b, "\r\n"...)
	s.loop.wbuf = b
	s.write(b)
}

func smtpTempFail(s *session) {
	if s.method == "none" {
		s.smtpForgetRcpt()
		s.write(smtpRcptBusy)
		return
	}
	s.write(smtpAuthBusy)
}

// smtpForgetRcpt drops the RCPT line from the none-path envelope.
func (s *session) smtpForgetRcpt() {
	if i := bytes.Index(s.smtp.envelope, smtpCRLF); i >= 0 {
		s.smtp.envelope = s.smtp.envelope[:i+2]
	}
}

// smtpEnvelope splits the envelope into the MAIL and RCPT lines (without
// line ends; either may be nil).
func (s *session) smtpEnvelope() (from, to []byte) {
	env := s.smtp.envelope
	i := bytes.Index(env, smtpCRLF)
	if i < 0 {
		return nil, nil
	}
	from = env[:i]
	rest := env[i+2:]
	if j := bytes.Index(rest, smtpCRLF); j >= 0 {
		to = rest[:j]
	}
	return from, to
}

// smtpHeloArg is the client's HELO/EHLO argument, or nil.
func (s *session) smtpHeloArg() []byte {
	if len(s.smtp.helo) < 5 {
		return nil
	}
	return s.smtp.helo[5:]
}

// smtpAuthRequest adds Client-Host (the resolver's answer) and the
// Auth-SMTP-* values of the none path. The request goes to a worker
// goroutine, so it gets copies.
func smtpAuthRequest(s *session, r *codec.AuthRequest) {
	r.ClientHost = s.smtpHost() // resolver.go
	saltAuthRequest(s, r)
	if s.method != "none" {
		return
	}
	from, to := s.smtpEnvelope()
	r.SMTPHelo = append([]byte{}, s.smtpHeloArg()...)
	r.SMTPFrom = append([]byte{}, from...)
	r.SMTPTo = append([]byte{}, to...)
}

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
//
// Session memory: besides session.state, the SMTP part keeps two things
// in shared session fields, to avoid a per-session struct:
//   - session.tag holds the HELO/EHLO line as it is replayed to the
//     backend, "EHLO <arg>" or "HELO <arg>" (no line end). As in nginx the
//     verb stays EHLO once the client has used EHLO.
//   - session.reply holds the envelope of the smtp_auth none path:
//     "<MAIL line>\r\n", then "<MAIL line>\r\n<first RCPT line>\r\n", the
//     lines as codec.SMTPCommand.Replay gives them. It is emptied before
//     any backend failure is reported (backendFail writes session.reply).

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
	smtpCRLF            = []byte("\r\n")
)

// Pre-auth sub-states (session.state). Backend sub-states are in
// smtp_backend.go; all stay below auth.go's (200+).
const (
	smtpCommand uint8 = iota
	smtpAuthPlain
	smtpAuthLoginUser
	smtpAuthLoginPass
	smtpAuthCramMD5
	smtpAuthExternal
	smtpGreetingPending // smtp_greeting_delay running
)

// smtpConf is one SMTP server{} block's replies, built once at start-up.
type smtpConf struct {
	greeting []byte // "220 <sn> ESMTP ready"
	helo     []byte // "250 <sn>"
	ehlo     []byte // the EHLO reply
	delay    time.Duration

	ehloOn, ehloOnly []byte // EHLO before STARTTLS (tls_caps.go)

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
		sc.ehloOn, sc.ehloOnly = tlsSMTPEHLO(c)
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
		internalError: smtpInternalError,
		onTimer:       sc.onTimer,
		authRequest:   smtpAuthRequest,
		goodbye:       smtpGoodbye,
	}, nil
}

func (sc *smtpConf) greet(s *session) []byte {
	s.tag = s.tag[:0]
	s.reply = s.reply[:0]
	if sc.res != nil && s.clientHost == "" && sc.resolveStart(s) {
		return nil // resolver.go greets when the lookups end
	}
	if sc.delay <= 0 {
		s.state = smtpCommand
		return sc.greeting
	}
	// smtp_greeting_delay: hold the greeting back; a client that talks
	// first is an early talker and is dropped (clientData).
	s.state = smtpGreetingPending
	s.loop.arm(s, time.Now().Add(sc.delay).UnixNano())
	return nil
}

// onTimer sends the delayed greeting. It reports whether it handled the
// timer; other pre-auth timers are the `timeout`.
func (sc *smtpConf) onTimer(s *session) bool {
	if s.phase != PhasePreAuth || s.state != smtpGreetingPending {
		return false
	}
	s.state = smtpCommand
	s.armTimeout()
	s.write(sc.greeting)
	return true
}

func (sc *smtpConf) clientData(s *session) {
	limit := s.cfg().SMTPClientBuffer
	for s.phase == PhasePreAuth && !s.closed && s.client != nil {
		buf := s.in()
		if len(buf) == 0 {
			return
		}
		if s.state == smtpResolving {
			return // not read until the lookups end (resolver.go)
		}
		if s.state == smtpGreetingPending {
			s.info("client was rejected before greeting: \"" + printable(buf) + "\"")
			s.write(smtpInvalidPipe)
			s.close("early talker")
			return
		}
		var n int
		var more bool
		if s.state == smtpCommand {
			n, more = sc.commandStep(s, buf, limit)
		} else {
			n, more = s.saslReadStep(&smtpSASL, buf, limit)
		}
		if n > 0 && !s.closed {
			s.consume(n)
		}
		if !more {
			return
		}
	}
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
	switch cmd.Cmd {
	case codec.SMTPHelo, codec.SMTPEhlo:
		if cmd.NArgs != 1 {
			s.write(smtpInvalidArgument)
			break
		}
		verb := "HELO "
		if cmd.Cmd == codec.SMTPEhlo || bytes.HasPrefix(s.tag, []byte("EHLO ")) {
			verb = "EHLO "
		}
		s.tag = append(append(s.tag[:0], verb...), cmd.Args[0]...)
		s.reply = s.reply[:0] // HELO/EHLO starts over: no MAIL, no RCPT
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
		case len(s.reply) > 0:
			s.write(smtpBadSequence)
		case cmd.NArgs == 0:
			s.write(smtpInvalidArgument)
		default:
			s.reply = append(append(s.reply[:0], cmd.Replay...), smtpCRLF...)
			s.write(smtpOK)
		}
	case codec.SMTPRcpt:
		switch {
		case len(s.reply) == 0:
			s.write(smtpBadSequence)
		case cmd.NArgs == 0:
			s.write(smtpInvalidArgument)
		default:
			// The first RCPT of the none path is the login: auth_http
			// decides, the backend answers this RCPT (smtp_backend.go).
			s.reply = append(append(s.reply, cmd.Replay...), smtpCRLF...)
			s.login = s.login[:0]
			s.pass = s.pass[:0]
			s.startAuth("none")
			return n, false
		}
	case codec.SMTPRset:
		s.reply = s.reply[:0]
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
	plainPrompt: smtpPlainPrompt, userPrompt: smtpUserPrompt, passPrompt: smtpPassPrompt,
	challenge: "334 ", command: smtpCommand, plain: smtpAuthPlain, loginUser: smtpAuthLoginUser,
	loginPass: smtpAuthLoginPass, cramMD5: smtpAuthCramMD5, external: smtpAuthExternal,
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
	s.state = smtpCommand
	s.write(smtpInvalidCommand)
}

// smtpAuthFailed sends "<Auth-Error-Code or 535 5.7.0> <Auth-Status>". On
// the none path the failed RCPT is forgotten and the MAIL kept, so the
// client may try another recipient (Auth-Wait) in the same transaction.
func smtpAuthFailed(s *session) {
	s.state = smtpCommand
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
	s.state = smtpCommand
	if s.method == "none" {
		s.smtpForgetRcpt()
		s.write(smtpRcptBusy)
		return
	}
	s.write(smtpAuthBusy)
}

// smtpForgetRcpt drops the RCPT line from the none-path envelope.
func (s *session) smtpForgetRcpt() {
	if i := bytes.Index(s.reply, smtpCRLF); i >= 0 {
		s.reply = s.reply[:i+2]
	}
}

// smtpEnvelope splits session.reply into the MAIL and RCPT lines (without
// line ends; either may be nil).
func (s *session) smtpEnvelope() (from, to []byte) {
	i := bytes.Index(s.reply, smtpCRLF)
	if i < 0 {
		return nil, nil
	}
	from = s.reply[:i]
	rest := s.reply[i+2:]
	if j := bytes.Index(rest, smtpCRLF); j >= 0 {
		to = rest[:j]
	}
	return from, to
}

// smtpHeloArg is the client's HELO/EHLO argument, or nil.
func (s *session) smtpHeloArg() []byte {
	if len(s.tag) < 5 {
		return nil
	}
	return s.tag[5:]
}

// smtpAuthRequest adds the Auth-SMTP-* values of the none path. The
// request goes to a worker goroutine, so it gets copies.
func smtpAuthRequest(s *session, r *codec.AuthRequest) {
	saltAuthRequest(s, r)
	if s.method != "none" {
		return
	}
	from, to := s.smtpEnvelope()
	r.SMTPHelo = append([]byte{}, s.smtpHeloArg()...)
	r.SMTPFrom = append([]byte{}, from...)
	r.SMTPTo = append([]byte{}, to...)
}

package loop

import (
	"bytes"
	"strconv"

	"mailproxy/codec"
	"mailproxy/config"
)

// IMAP wire strings, exactly as nginx sends them (reference §3.1.1).
var (
	imapGreeting      = []byte("* OK IMAP4 ready\r\n")
	imapOK            = []byte(" OK completed\r\n")
	imapBad           = []byte(" BAD invalid command\r\n")
	imapStarBad       = []byte("* BAD invalid command\r\n")
	imapBye           = []byte("* BYE\r\n")
	imapInternalError = []byte("* BAD internal server error\r\n")
	imapLiteralOK     = []byte("+ OK\r\n")
	imapPlainPrompt   = []byte("+ \r\n")
	imapUserPrompt    = []byte("+ VXNlcm5hbWU6\r\n")
	imapPassPrompt    = []byte("+ UGFzc3dvcmQ6\r\n")
	imapIDReply       = []byte("* ID NIL\r\n")
	imapBusy          = []byte(" NO [UNAVAILABLE] server busy, try again later\r\n")
	imapGoodbye       = []byte("* BYE Server shutting down\r\n")
)

// imapCaps is the CAPABILITY reply, fixed at config time.
type imapCaps struct {
	line []byte // "* CAPABILITY ...\r\n": TLS active, or starttls off
	on   []byte // starttls on, not TLS yet: ... AUTH=... STARTTLS
	only []byte // starttls only, not TLS yet: ... STARTTLS LOGINDISABLED
}

// capsFor picks the CAPABILITY reply for the session's TLS state
// (reference §3.1.4).
func (c *imapCaps) capsFor(s *session) []byte {
	if s.tls == nil {
		switch s.cfg().Starttls {
		case config.StarttlsOn:
			return c.on
		case config.StarttlsOnly:
			return c.only
		}
	}
	return c.line
}

func newIMAPCaps(c *config.Server) *imapCaps {
	b := []byte("* CAPABILITY")
	for _, cap := range c.IMAPCapabilities {
		b = append(b, ' ')
		b = append(b, cap...)
	}
	only := append(append([]byte(nil), b...), " STARTTLS LOGINDISABLED\r\n"...)
	b = appendMechs(b, c.IMAPAuth, "AUTH=")
	on := append(append([]byte(nil), b...), " STARTTLS\r\n"...)
	b = append(b, "\r\n"...)
	return &imapCaps{line: b, on: on, only: only}
}

// Pre-auth sub-states (session.state).
const (
	imapCommand uint8 = iota
	imapAuthPlain
	imapAuthLoginUser
	imapAuthLoginPass
	imapAuthCramMD5
	imapAuthExternal
)

// imapSASL is how IMAP speaks SASL (reference §3.1.1).
var imapSASL = saslDialect{
	plainPrompt: imapPlainPrompt, userPrompt: imapUserPrompt, passPrompt: imapPassPrompt,
	challenge: "+ ", command: imapCommand, plain: imapAuthPlain, loginUser: imapAuthLoginUser,
	loginPass: imapAuthLoginPass, cramMD5: imapAuthCramMD5, external: imapAuthExternal,
}

// Backend login sub-states (imapState.backend).
const (
	imapBackendGreeting uint8 = iota
	imapBackendLoginSent
	imapBackendUserSent
	imapBackendPassSent
)

// imapState is the IMAP-only part of a session.
type imapState struct {
	parser   codec.IMAPParser
	cmd      codec.IMAPCommand
	backend  uint8
	untagged bool // one untagged line was already kept before the tagged OK
}

var imapOps = &protoOps{
	name:          "imap",
	greeting:      imapGreet,
	clientData:    imapClientData,
	backendData:   imapBackendData,
	authFailed:    imapAuthFailed,
	tempFail:      imapTempFail,
	loginDone:     imapLoginDone,
	saslInvalid:   imapSASLInvalid,
	internalError: imapInternalError,
	goodbye:       imapGoodbye,
}

func opsFor(c *config.Server) (*protoOps, error) {
	switch c.Protocol {
	case config.IMAP:
		return imapOps, nil
	case config.POP3:
		return pop3OpsFor(c), nil
	case config.SMTP:
		return smtpOpsFor(c)
	}
	return nil, errUnsupportedProtocol(c)
}

func imapGreet(s *session) []byte {
	return imapGreeting
}

// reply writes "<tag><rest>" to the client.
func (s *session) tagged(tag []byte, rest []byte) {
	b := s.loop.wbuf[:0]
	b = append(b, tag...)
	b = append(b, rest...)
	s.loop.wbuf = b
	s.write(b)
}

func imapClientData(s *session) {
	if s.imap == nil {
		// Allocated on the first command, not at the greeting: idle
		// connections are the common case at an ISP edge.
		s.imap = &imapState{}
	}
	limit := s.cfg().IMAPClientBuffer
	for s.phase == PhasePreAuth && !s.closed && s.client != nil {
		buf := s.in()
		if len(buf) == 0 {
			return
		}
		var n int
		var more bool
		if s.state == imapCommand {
			n, more = imapCommandStep(s, buf, limit)
		} else {
			n, more = s.saslReadStep(&imapSASL, buf, limit)
		}
		if n > 0 && !s.closed {
			s.consume(n)
		}
		if !more {
			return
		}
	}
}

// imapCommandStep handles at most one command at the start of buf. It
// returns the bytes to discard and whether to keep parsing.
func imapCommandStep(s *session, buf []byte, limit int) (int, bool) {
	st := s.imap
	cmd := &st.cmd
	res, n := st.parser.Parse(buf, limit, cmd)
	// A synchronizing literal is answered with "+ OK" (nginx does so even
	// when the bytes are already here); the parser then resumes where it
	// stopped, so several literals in one read are all answered.
	for res == codec.Continue && !s.closed {
		s.write(imapLiteralOK)
		res, n = st.parser.Parse(buf, limit, cmd)
	}
	if res == codec.NeedMore || res == codec.Continue {
		return 0, false
	}
	if res == codec.Invalid {
		s.imapInvalid(cmd)
		return n, !s.closed
	}
	s.armTimeout()
	tag := cmd.Tag
	switch cmd.Cmd {
	case codec.IMAPCapability:
		s.write(s.srv.caps.capsFor(s))
		s.tagged(tag, imapOK)
	case codec.IMAPNoop:
		s.tagged(tag, imapOK)
	case codec.IMAPID:
		// RFC 2971 before auth: nginx answers BAD, which breaks clients
		// that were told ID works (Mailu #2938). We answer with no data.
		s.write(imapIDReply)
		s.tagged(tag, imapOK)
	case codec.IMAPLogout:
		s.write(imapBye)
		s.tagged(tag, imapOK)
		s.close("logout")
		return n, false
	case codec.IMAPStarttls:
		if !s.tlsStarttlsOK() {
			// starttls off, or TLS already: invalid, not counted (nginx).
			s.tagged(tag, imapBad)
			break
		}
		s.tagged(tag, imapOK)
		s.tlsStarttls() // drops what was pipelined after STARTTLS
		return 0, false
	case codec.IMAPLogin:
		if cmd.NArgs != 2 || len(cmd.Args[0]) == 0 || s.tlsOnly() {
			s.tagged(tag, imapBad)
			break
		}
		s.tag = append(s.tag[:0], tag...)
		s.login = append(s.login[:0], cmd.Args[0]...)
		s.pass = append(s.pass[:0], cmd.Args[1]...)
		s.startAuth("plain")
		return n, false
	case codec.IMAPAuthenticate:
		return n, s.imapAuthenticate(cmd)
	default:
		s.imapInvalid(cmd)
	}
	return n, !s.closed
}

// imapInvalid answers a parser error, counting it for max_errors.
func (s *session) imapInvalid(cmd *codec.IMAPCommand) {
	s.errors++
	s.srv.stats.InvalidCommand(s.loop.idx)
	if cmd.BadTag || cmd.Tag == nil {
		s.write(imapStarBad)
	} else {
		s.tagged(cmd.Tag, imapBad)
	}
	if cmd.Close {
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

// imapAuthenticate starts a SASL exchange. Returns whether to keep parsing.
func (s *session) imapAuthenticate(cmd *codec.IMAPCommand) bool {
	tag := cmd.Tag
	if cmd.NArgs < 1 || cmd.NArgs > 2 || s.tlsOnly() {
		s.tagged(tag, imapBad)
		return true
	}
	s.tag = append(s.tag[:0], tag...)
	var ir []byte
	hasIR := cmd.NArgs == 2
	if hasIR {
		ir = cmd.Args[1]
	}
	if ok, more := s.saslStart(&imapSASL, cmd.Args[0], ir, hasIR, s.cfg().IMAPAuth); ok {
		return more
	}
	s.tagged(tag, imapBad)
	return true
}

func imapSASLInvalid(s *session) {
	s.state = imapCommand
	s.tagged(s.tag, imapBad)
}

func imapAuthFailed(s *session) {
	b := append(s.loop.wbuf[:0], s.tag...)
	b = append(b, " NO "...)
	b = append(b, s.failText...)
	b = append(b, "\r\n"...)
	s.loop.wbuf = b
	s.write(b)
}

func imapTempFail(s *session) {
	s.tagged(s.tag, imapBusy)
}

func imapLoginDone(s *session) {
	s.imap.backend = imapBackendGreeting
	s.imap.untagged = false
	s.reply = s.reply[:0]
}

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

// backendFail handles an unexpected backend reply during login
// (proxy_pass_error_message).
func (s *session) backendFail(line []byte) {
	// nginx logs the line without its line end (checked against 1.22).
	logged := "upstream sent invalid response: \"" + printable(bytes.TrimRight(line, "\r\n")) +
		"\" while reading response from upstream"
	if s.cfg().ProxyPassErrorMessage {
		s.info(logged)
		s.write(s.reply)
		s.write(line)
		s.close("upstream rejected login")
		return
	}
	s.errorf(logged)
	s.internalError("upstream rejected login")
}

// printable renders bytes for a log line: control and non-ASCII bytes
// (a CRLF too, where nginx logs one, as in "client was rejected") shown as
// '_', and cut at 200 bytes.
func printable(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			out = append(out, '_')
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

// imapBackendSendLogin sends "<tag> LOGIN {n}", the first login step.
func imapBackendSendLogin(s *session) {
	b := append(s.loop.wbuf[:0], s.tag...)
	b = append(b, " LOGIN {"...)
	b = strconv.AppendInt(b, int64(len(s.backendLogin)), 10)
	b = append(b, "}\r\n"...)
	s.loop.wbuf = b
	s.bwrite(b)
	s.imap.backend = imapBackendLoginSent
}

// imapBackendData drives nginx's backend login dialogue (§3.1.5):
// greeting, "<tag> LOGIN {n}", user literal, password literal, tagged OK.
func imapBackendData(s *session) {
	st := s.imap
	for s.phase == PhaseBackendLogin && !s.closed && s.backend != nil {
		line := s.backendLine()
		if line == nil {
			return
		}
		n := len(line)
		switch st.backend {
		case imapBackendGreeting:
			if !bytes.HasPrefix(line, []byte("* OK")) {
				s.backendFail(line)
				return
			}
			s.bconsume(n)
			if s.tlsBackendStarttls() {
				s.bwrite(imapBackendStarttlsCmd) // proxy_starttls (tls_backend.go)
				st.backend = imapBackendStarttlsSent
				continue
			}
			imapBackendSendLogin(s)
		case imapBackendStarttlsSent:
			if !s.imapBackendStarttls(line) {
				return
			}
		case imapBackendLoginSent:
			if line[0] != '+' {
				s.backendFail(line)
				return
			}
			s.bconsume(n)
			b := append(s.loop.wbuf[:0], s.backendLogin...)
			b = append(b, " {"...)
			b = strconv.AppendInt(b, int64(len(s.backendPass)), 10)
			b = append(b, "}\r\n"...)
			s.loop.wbuf = b
			s.bwrite(b)
			st.backend = imapBackendUserSent
		case imapBackendUserSent:
			if line[0] != '+' {
				s.backendFail(line)
				return
			}
			s.bconsume(n)
			b := append(s.loop.wbuf[:0], s.backendPass...)
			b = append(b, "\r\n"...)
			s.loop.wbuf = b
			s.bwrite(b)
			wipe(b)
			st.backend = imapBackendPassSent
		case imapBackendPassSent:
			if len(line) > len(s.tag)+3 && bytes.HasPrefix(line, s.tag) &&
				line[len(s.tag)] == ' ' && bytes.HasPrefix(line[len(s.tag)+1:], []byte("OK")) {
				s.write(s.reply)
				s.write(line)
				s.bconsume(n)
				s.reply = nil
				if s.closed {
					return
				}
				s.startRelay()
				return
			}
			if bytes.HasPrefix(line, []byte("* ")) && !st.untagged {
				// One untagged line (e.g. CAPABILITY) is allowed before
				// the tagged OK (nginx 1.27.3); it reaches the client too.
				st.untagged = true
				s.reply = append(s.reply[:0], line...)
				s.bconsume(n)
				continue
			}
			s.backendFail(line)
			return
		}
	}
}

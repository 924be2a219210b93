package loop

import (
	"bytes"
	"strconv"
	"strings"

	"mailproxy/codec"
	"mailproxy/config"
)

// IMAP pre-auth (reference §3.1.1) and backend login (§3.1.5), with
// nginx's wire strings byte for byte.

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

	// proxy_starttls towards the backend: a fixed internal tag.
	imapBackendStarttlsTag = []byte("mpstls ")
	imapBackendStarttlsCmd = []byte("mpstls STARTTLS\r\n")
)

// imapBackendStep is where the backend login dialogue is: the reply
// awaited.
type imapBackendStep uint8

const (
	imapBackendGreeting     imapBackendStep = iota // "* OK"
	imapBackendStarttlsSent                        // proxy_starttls: "mpstls OK"
	imapBackendLoginSent                           // "+" for the user literal
	imapBackendUserSent                            // "+" for the password literal
	imapBackendPassSent                            // "<tag> OK"
	imapBackendOAuthSent                           // AUTHENTICATE with the client's token: "<tag> OK"
	imapBackendIDSent                              // proxy_forward_client: "mpid OK" (or NO/BAD)
)

var imapBackendIDTag = []byte("mpid ")

// imapState is the IMAP part of a session, allocated at the client's first
// command (idle connections, the common case at an ISP edge, have none).
// Loop-owned. The SASL step is the session's (sasl.go).
type imapState struct {
	parser codec.IMAPParser
	cmd    codec.IMAPCommand
	tag    []byte // the tag of the LOGIN/AUTHENTICATE command, copied

	backend  imapBackendStep
	untagged []byte // the one untagged backend line kept before the tagged OK
	// literalPlus: the backend's greeting advertised LITERAL+ (RFC 7888),
	// so LOGIN goes out in one write with non-synchronising literals.
	literalPlus bool
}

// imapConf is one IMAP server{} block's replies, built once at start-up:
// the CAPABILITY lines for each TLS state (reference §3.1.4).
type imapConf struct {
	line []byte // "* CAPABILITY ...\r\n": TLS active, or starttls off
	on   []byte // starttls on, not TLS yet: ... AUTH=... STARTTLS
	only []byte // starttls only, not TLS yet: ... STARTTLS LOGINDISABLED
}

// imapPreAuthCaps are what mailproxy itself handles before login and
// advertises (nginx handles them too, but does not say so): SASL-IR
// (RFC 4959) and LITERAL+ (RFC 7888). They are added to imap_capabilities
// unless listed there already.
var imapPreAuthCaps = []string{"SASL-IR", "LITERAL+"}

func newIMAPConf(c *config.Server) *imapConf {
	b := []byte("* CAPABILITY")
	for _, cap := range c.IMAPCapabilities {
		b = append(b, ' ')
		b = append(b, cap...)
	}
	for _, extra := range imapPreAuthCaps {
		listed := false
		for _, cap := range c.IMAPCapabilities {
			listed = listed || strings.EqualFold(cap, extra)
		}
		if !listed {
			b = append(b, ' ')
			b = append(b, extra...)
		}
	}
	only := append(append([]byte(nil), b...), " STARTTLS LOGINDISABLED\r\n"...)
	b = appendMechs(b, c.IMAPAuth, "AUTH=")
	on := append(append([]byte(nil), b...), " STARTTLS\r\n"...)
	b = append(b, "\r\n"...)
	return &imapConf{line: b, on: on, only: only}
}

// capsFor picks the CAPABILITY reply for the session's TLS state.
func (ic *imapConf) capsFor(s *session) []byte {
	if s.tls == nil {
		switch s.cfg().Starttls {
		case config.StarttlsOn:
			return ic.on
		case config.StarttlsOnly:
			return ic.only
		}
	}
	return ic.line
}

// imapSASL is how IMAP speaks SASL (reference §3.1.1).
var imapSASL = saslDialect{
	plainPrompt: imapPlainPrompt, userPrompt: imapUserPrompt, passPrompt: imapPassPrompt, challenge: "+ ",
}

func imapOpsFor(c *config.Server) *protoOps {
	ic := newIMAPConf(c)
	return &protoOps{
		name:          "imap",
		greeting:      imapGreet,
		clientData:    ic.clientData,
		backendData:   imapBackendData,
		authFailed:    imapAuthFailed,
		tempFail:      imapTempFail,
		loginDone:     imapLoginDone,
		saslInvalid:   imapSASLInvalid,
		resetPreAuth:  imapResetPreAuth,
		internalError: imapInternalError,
		goodbye:       imapGoodbye,
		certError:     "* BYE ",
		sasl:          &imapSASL,
		refuse:        "* BYE ",
		clientBuffer:  func(c *config.Server) int { return oauthBuffer(c.IMAPClientBuffer, c.IMAPAuth) },
		needsPass:     backendNeedsPass,
		lazyAuth:      true,
	}
}

// backendNeedsPass: IMAP and POP3 backends are logged in with LOGIN or
// USER/PASS whatever the client used, so the methods that carry no
// password need Auth-Pass from auth_http (reference §2.3).
func backendNeedsPass(method string) bool {
	return method == "apop" || method == "cram-md5" || method == "external"
}

func imapGreet(*session) []byte {
	return imapGreeting
}

// tagged writes "<tag><rest>" to the client.
func (s *session) tagged(tag []byte, rest []byte) {
	b := s.loop.wbuf[:0]
	b = append(b, tag...)
	b = append(b, rest...)
	s.loop.wbuf = b
	s.write(b)
}

func (ic *imapConf) clientData(s *session) {
	if s.imap == nil {
		s.imap = &imapState{}
	}
	s.preAuthRead(&imapSASL, ic.commandStep, nil)
}

// commandStep handles at most one command at the start of buf. It
// returns the bytes to discard and whether to keep parsing.
func (ic *imapConf) commandStep(s *session, buf []byte, limit int) (int, bool) {
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
		s.write(ic.capsFor(s))
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
		st.tag = append(st.tag[:0], tag...)
		s.login = append(s.login[:0], cmd.Args[0]...)
		s.pass = append(s.pass[:0], cmd.Args[1]...)
		return n, s.startAuth("plain")
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
	s.imap.tag = append(s.imap.tag[:0], tag...)
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
	s.sasl = saslNone
	s.tagged(s.imap.tag, imapBad)
}

func imapAuthFailed(s *session) {
	b := append(s.loop.wbuf[:0], s.imap.tag...)
	b = append(b, " NO "...)
	b = append(b, s.failText...)
	b = append(b, "\r\n"...)
	s.loop.wbuf = b
	s.write(b)
}

func imapTempFail(s *session) {
	s.tagged(s.imap.tag, imapBusy)
}

// imapResetPreAuth forgets the plaintext dialogue after STARTTLS: a
// literal in progress is dropped with the bytes.
func imapResetPreAuth(s *session) {
	if s.imap != nil {
		s.imap.parser = codec.IMAPParser{}
	}
}

func imapLoginDone(s *session) {
	s.imap.backend = imapBackendGreeting
	s.imap.untagged = s.imap.untagged[:0]
	s.imap.literalPlus = false
}

// imapGreetingLiteralPlus reports whether a backend greeting's CAPABILITY
// response code lists LITERAL+.
func imapGreetingLiteralPlus(line []byte) bool {
	i := bytes.Index(line, []byte("[CAPABILITY "))
	if i < 0 {
		return false
	}
	caps := line[i+len("[CAPABILITY "):]
	if j := bytes.IndexByte(caps, ']'); j >= 0 {
		caps = caps[:j]
	}
	for _, c := range bytes.Fields(caps) {
		if bytes.EqualFold(c, []byte("LITERAL+")) {
			return true
		}
	}
	return false
}

// imapBackendSendLogin sends "<tag> LOGIN {n}", the first login step, or
// "<tag> AUTHENTICATE <mech> <response>" with the client's OAuth token.
func imapBackendSendLogin(s *session) {
	if s.backendOAuth {
		b := append(s.loop.wbuf[:0], s.imap.tag...)
		b = append(b, " AUTHENTICATE "...)
		b = append(b, s.backendOAuthMech()...)
		b = append(b, ' ')
		b = s.backendOAuthResponse(b)
		b = append(b, "\r\n"...)
		s.loop.wbuf = b
		s.bwrite(b)
		wipe(b)
		s.imap.backend = imapBackendOAuthSent
		return
	}
	if s.imap.literalPlus {
		// One write, no "+" round trips: "<tag> LOGIN {n+}" user
		// "{m+}" password (a mailproxy extension; nginx waits for each).
		b := append(s.loop.wbuf[:0], s.imap.tag...)
		b = append(b, " LOGIN {"...)
		b = strconv.AppendInt(b, int64(len(s.backendLogin)), 10)
		b = append(b, "+}\r\n"...)
		b = append(b, s.backendLogin...)
		b = append(b, " {"...)
		b = strconv.AppendInt(b, int64(len(s.backendPass)), 10)
		b = append(b, "+}\r\n"...)
		b = append(b, s.backendPass...)
		b = append(b, "\r\n"...)
		s.loop.wbuf = b
		s.bwrite(b)
		wipe(b)
		s.imap.backend = imapBackendPassSent
		return
	}
	b := append(s.loop.wbuf[:0], s.imap.tag...)
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
				s.backendFail(line, nil)
				return
			}
			// LITERAL+ as the plaintext greeting says; after STARTTLS
			// the capabilities may differ, so not then.
			st.literalPlus = imapGreetingLiteralPlus(line) && !s.tlsBackendStarttls()
			s.bconsume(n)
			if s.tlsBackendStarttls() {
				s.bwrite(imapBackendStarttlsCmd)
				st.backend = imapBackendStarttlsSent
				continue
			}
			imapBackendFirst(s)
		case imapBackendStarttlsSent:
			if !s.imapBackendStarttls(line) {
				return
			}
		case imapBackendIDSent:
			s.bconsume(n)
			if bytes.HasPrefix(line, []byte("* ")) {
				continue // the backend's own ID
			}
			if !bytes.HasPrefix(line, imapBackendIDTag) {
				s.backendFail(line, nil)
				return
			}
			if !bytes.HasPrefix(line[len(imapBackendIDTag):], []byte("OK")) {
				s.info("upstream did not take the client's address (ID): \"" + printable(bytes.TrimRight(line, "\r\n")) + "\"")
			}
			imapBackendSendLogin(s)
		case imapBackendLoginSent:
			if line[0] != '+' {
				s.backendFail(line, nil)
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
				s.backendFail(line, nil)
				return
			}
			s.bconsume(n)
			b := append(s.loop.wbuf[:0], s.backendPass...)
			b = append(b, "\r\n"...)
			s.loop.wbuf = b
			s.bwrite(b)
			wipe(b)
			st.backend = imapBackendPassSent
		case imapBackendOAuthSent:
			if line[0] == '+' {
				// The backend's error challenge: end the exchange, its NO
				// follows.
				s.bconsume(n)
				s.bwrite(s.backendOAuthDummy())
				continue
			}
			fallthrough
		case imapBackendPassSent:
			tag := st.tag
			if len(line) > len(tag)+3 && bytes.HasPrefix(line, tag) &&
				line[len(tag)] == ' ' && bytes.HasPrefix(line[len(tag)+1:], []byte("OK")) {
				s.write(st.untagged)
				s.write(line)
				s.bconsume(n)
				st.untagged = nil
				if s.closed {
					return
				}
				s.startRelay()
				return
			}
			if bytes.HasPrefix(line, []byte("* ")) && len(st.untagged) == 0 {
				// One untagged line (e.g. CAPABILITY) is allowed before
				// the tagged OK (nginx 1.27.3); it reaches the client too.
				st.untagged = append(st.untagged[:0], line...)
				s.bconsume(n)
				continue
			}
			s.backendFail(line, st.untagged)
			return
		}
	}
}

// imapBackendStarttls handles the reply to "mpstls STARTTLS"
// (proxy_starttls). It reports whether the dialogue loop should go on
// reading.
func (s *session) imapBackendStarttls(line []byte) bool {
	if bytes.HasPrefix(line, []byte("* ")) {
		s.bconsume(len(line))
		return true
	}
	if !bytes.HasPrefix(line, imapBackendStarttlsTag) || !bytes.HasPrefix(line[len(imapBackendStarttlsTag):], []byte("OK")) {
		s.backendFail(line, nil)
		return false
	}
	s.tlsBackendUpgrade(func() { imapBackendFirst(s) })
	return false
}

// imapBackendFirst sends what follows the greeting (and STARTTLS): the ID
// with the client's address (proxy_forward_client), else the login.
func imapBackendFirst(s *session) {
	if !s.cfg().ProxyForwardClient {
		imapBackendSendLogin(s)
		return
	}
	b := s.imapForwardCmd(s.loop.wbuf[:0])
	s.loop.wbuf = b
	s.bwrite(b)
	s.imap.backend = imapBackendIDSent
}

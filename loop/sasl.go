package loop

import (
	"math/rand/v2"
	"time"

	"mailproxy/codec"
	"mailproxy/config"
)

// saslMechs is nginx's fixed order of mechanisms in capability lists,
// whatever the order of imap_auth / pop3_auth / smtp_auth in the config.
var saslMechs = [...]struct {
	bit  config.AuthMethods
	name string
}{{config.AuthPlain, "PLAIN"}, {config.AuthLogin, "LOGIN"}, {config.AuthCramMD5, "CRAM-MD5"}, {config.AuthExternal, "EXTERNAL"}}

// appendMechs appends " <prefix><name>" for each mechanism of set, in
// nginx's order ("AUTH=PLAIN" for IMAP, "PLAIN" for SMTP).
func appendMechs(b []byte, set config.AuthMethods, prefix string) []byte {
	for _, m := range saslMechs {
		if set&m.bit != 0 {
			b = append(b, ' ')
			b = append(b, prefix...)
			b = append(b, m.name...)
		}
	}
	return b
}

// saslStep is which SASL response line a session waits for in pre-auth;
// saslNone: none, the protocol reads commands. The exchange is the same
// in IMAP, POP3 and SMTP (reference §3), so the step is the session's,
// not a protocol's.
type saslStep uint8

const (
	saslNone      saslStep = iota // reading commands
	saslPlain                     // the PLAIN response
	saslLoginUser                 // LOGIN: the user name
	saslLoginPass                 // LOGIN: the password
	saslCramMD5                   // the CRAM-MD5 response
	saslExternal                  // the EXTERNAL authorization identity
)

// saslDialect is how one protocol speaks SASL: its prompts and the prefix
// of its CRAM-MD5 challenge.
type saslDialect struct {
	plainPrompt, userPrompt, passPrompt []byte
	challenge                           string // "+ " or "334 "
}

// saslStart begins mechanism mech, with an initial response when hasIR.
// enabled is the protocol's *_auth set: PLAIN and LOGIN are always
// accepted, CRAM-MD5 and EXTERNAL only when listed (nginx 1.11.9). ok is
// false for a mechanism that is unknown or not enabled: the caller answers
// with its protocol's error. more says whether to keep parsing.
func (s *session) saslStart(d *saslDialect, mech, ir []byte, hasIR bool, enabled config.AuthMethods) (ok, more bool) {
	switch codec.ParseSASLMech(mech) {
	case codec.SASLPlain:
		if !hasIR {
			s.write(d.plainPrompt)
			s.sasl = saslPlain
			return true, true
		}
		return true, s.saslPlain(ir)
	case codec.SASLLogin:
		if !hasIR {
			s.write(d.userPrompt)
			s.sasl = saslLoginUser
			return true, true
		}
		if s.saslLoginUser(ir) {
			s.write(d.passPrompt)
			s.sasl = saslLoginPass
		}
		return true, !s.closed
	case codec.SASLCramMD5:
		if enabled&config.AuthCramMD5 == 0 || hasIR {
			return false, true
		}
		s.writeChallenge(d.challenge)
		s.sasl = saslCramMD5
		return true, true
	case codec.SASLExternal:
		if enabled&config.AuthExternal == 0 {
			return false, true
		}
		if !hasIR {
			s.write(d.userPrompt)
			s.sasl = saslExternal
			return true, true
		}
		return true, s.saslExternal(ir)
	}
	return false, true
}

// saslReadStep reads one SASL response line at the start of buf and acts
// on it. It returns the bytes to discard and whether to keep parsing. A
// line longer than the client buffer gets the protocol's error and a close.
func (s *session) saslReadStep(d *saslDialect, buf []byte, limit int) (int, bool) {
	line, n, res := codec.ReadLine(buf, limit)
	switch res {
	case codec.NeedMore:
		return 0, false
	case codec.Invalid:
		s.saslBad()
		s.info("client sent too long command")
		s.close("too long command")
		return n, false
	}
	s.armTimeout()
	step := s.sasl
	s.sasl = saslNone
	switch step {
	case saslPlain:
		return n, s.saslPlain(line)
	case saslLoginUser:
		if s.saslLoginUser(line) {
			s.write(d.passPrompt)
			s.sasl = saslLoginPass
		}
		return n, !s.closed
	case saslLoginPass:
		return n, s.saslLoginPass(line)
	case saslCramMD5:
		return n, s.saslCramMD5(line)
	case saslExternal:
		return n, s.saslExternal(line)
	}
	return n, true
}

// The steps below each return whether the caller should keep parsing
// (false once auth has started or the session closed) and answer bad input
// with the protocol's error (ops.saslInvalid).

func (s *session) saslBad() {
	s.srv.ops.saslInvalid(s)
}

func (s *session) saslPlain(b64 []byte) bool {
	dec, login, pass, ok := codec.DecodePlain(s.scratch[:0], b64)
	s.scratch = dec
	if !ok {
		s.info("client sent invalid base64 encoding in AUTH PLAIN command")
		s.saslBad()
		return !s.closed
	}
	if !credentialClean(login) || !credentialClean(pass) {
		wipe(dec)
		return s.saslDirty()
	}
	s.login = append(s.login[:0], login...)
	s.pass = append(s.pass[:0], pass...)
	wipe(dec)
	s.startAuth("plain")
	return false
}

func (s *session) saslLoginUser(b64 []byte) bool {
	dec, ok := codec.DecodeBase64(s.scratch[:0], b64)
	s.scratch = dec
	if !ok {
		s.info("client sent invalid base64 encoding in AUTH LOGIN command")
		s.sasl = saslNone
		s.saslBad()
		return false
	}
	if !credentialClean(dec) {
		s.saslDirty()
		return false
	}
	s.login = append(s.login[:0], dec...)
	return true
}

func (s *session) saslLoginPass(b64 []byte) bool {
	dec, ok := codec.DecodeBase64(s.scratch[:0], b64)
	s.scratch = dec
	if !ok {
		s.info("client sent invalid base64 encoding in AUTH LOGIN command")
		s.saslBad()
		return !s.closed
	}
	if !credentialClean(dec) {
		wipe(dec)
		return s.saslDirty()
	}
	s.pass = append(s.pass[:0], dec...)
	wipe(dec)
	s.startAuth("plain")
	return false
}

func (s *session) saslCramMD5(b64 []byte) bool {
	dec, login, digest, ok := codec.DecodeCramMD5(s.scratch[:0], b64)
	s.scratch = dec
	if !ok {
		s.info("client sent invalid CRAM-MD5 hash in AUTH CRAM-MD5 command")
		s.saslBad()
		return !s.closed
	}
	if !credentialClean(login) {
		return s.saslDirty()
	}
	s.login = append(s.login[:0], login...)
	s.pass = append(s.pass[:0], digest...)
	s.startAuth("cram-md5")
	return false
}

func (s *session) saslExternal(b64 []byte) bool {
	dec, ok := codec.DecodeBase64(s.scratch[:0], b64)
	s.scratch = dec
	if !ok || len(dec) == 0 {
		s.info("client sent invalid base64 encoding in AUTH EXTERNAL command")
		s.saslBad()
		return !s.closed
	}
	if !credentialClean(dec) {
		return s.saslDirty()
	}
	s.login = append(s.login[:0], dec...)
	s.pass = s.pass[:0]
	s.startAuth("external")
	return false
}

// credentialClean reports whether a decoded user name or password is free
// of CR, LF and NUL. Such bytes have no place in a credential and, passed
// on, would end a backend command line early: "\0user\r\nDELE 1\0pass"
// in AUTH PLAIN became "USER user" + "DELE 1" towards a POP3 backend
// (nginx has the same hole).
func credentialClean(b []byte) bool {
	for _, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

// saslDirty refuses credentials that are not clean with the protocol's
// authentication failure, without asking auth_http, and closes, as a
// failed login without Auth-Wait does. Returns false: stop parsing.
func (s *session) saslDirty() bool {
	s.info("client sent invalid credentials (CR, LF or NUL)")
	s.srv.stats.InvalidCommand(s.loop.idx)
	s.authResult = "fail"
	s.sasl = saslNone
	s.failText = "Authentication failed"
	s.failCode = smtpBadCredentialsCode
	s.srv.ops.authFailed(s)
	s.close("invalid credentials")
	return false
}

// ensureSalt makes the session's APOP/CRAM-MD5 salt once; later attempts
// reuse it, as nginx does.
func (s *session) ensureSalt() {
	if len(s.salt) == 0 {
		s.salt = codec.AppendSalt(s.salt, rand.Uint32(), time.Now().Unix(), s.cfg().ServerName)
	}
}

// writeChallenge sends "<prefix><base64(salt)>\r\n", the CRAM-MD5
// challenge of POP3 ("+ ") and SMTP ("334 ").
func (s *session) writeChallenge(prefix string) {
	s.ensureSalt()
	b := append(s.loop.wbuf[:0], prefix...)
	b = codec.AppendBase64(b, s.salt)
	b = append(b, "\r\n"...)
	s.loop.wbuf = b
	s.write(b)
}

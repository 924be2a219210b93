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
}{{config.AuthPlain, "PLAIN"}, {config.AuthLogin, "LOGIN"}, {config.AuthCramMD5, "CRAM-MD5"}, {config.AuthExternal, "EXTERNAL"},
	{config.AuthOAuthBearer, "OAUTHBEARER"}, {config.AuthXOAuth2, "XOAUTH2"}}

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
	saslNone        saslStep = iota // reading commands
	saslPlain                       // the PLAIN response
	saslLoginUser                   // LOGIN: the user name
	saslLoginPass                   // LOGIN: the password
	saslCramMD5                     // the CRAM-MD5 response
	saslExternal                    // the EXTERNAL authorization identity
	saslOAuthBearer                 // the OAUTHBEARER response (RFC 7628)
	saslXOAuth2                     // the XOAUTH2 response
	// After an auth server's Auth-Error-SASL was sent as the error
	// challenge: the client's dummy response, then the failure reply;
	// the session then goes on (Auth-Wait was given) or closes.
	saslOAuthErrorStay
	saslOAuthErrorClose
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
	case codec.SASLOAuthBearer, codec.SASLXOAuth2:
		bit, step := config.AuthOAuthBearer, saslOAuthBearer
		if codec.ParseSASLMech(mech) == codec.SASLXOAuth2 {
			bit, step = config.AuthXOAuth2, saslXOAuth2
		}
		if enabled&bit == 0 {
			return false, true
		}
		if !hasIR {
			// An empty challenge (RFC 7628 §3.1), as nginx's PR sends it.
			s.write(d.plainPrompt)
			s.sasl = step
			return true, true
		}
		return true, s.saslOAuth(step, ir)
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
	case saslOAuthBearer, saslXOAuth2:
		return n, s.saslOAuth(step, line)
	case saslOAuthErrorStay, saslOAuthErrorClose:
		return n, s.saslOAuthDummy(step, line)
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
	return s.startAuth("plain")
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
	return s.startAuth("plain")
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
	return s.startAuth("cram-md5")
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
	return s.startAuth("external")
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

// oauthMinBuffer is the command buffer a server gets at least when it
// offers OAUTHBEARER or XOAUTH2: bearer tokens (JWTs from Microsoft 365
// and Google) run to several kilobytes, base64 makes them a third longer,
// and nginx's default of one page would cut them off.
const oauthMinBuffer = 16 << 10

// oauthBuffer is the client command buffer of a protocol: its
// *_client_buffer, raised to oauthMinBuffer when an OAuth mechanism is on.
func oauthBuffer(size int, auth config.AuthMethods) int {
	if auth&config.AuthOAuth != 0 && size < oauthMinBuffer {
		return oauthMinBuffer
	}
	return size
}

// saslOAuth takes an OAUTHBEARER or XOAUTH2 response: the login and the
// bearer token go to auth_http as Auth-User and Auth-Pass (nginx PR
// #1590), with Auth-Method "oauthbearer" or "xoauth2".
func (s *session) saslOAuth(step saslStep, b64 []byte) bool {
	decode, method := codec.DecodeOAuthBearer, "oauthbearer"
	if step == saslXOAuth2 {
		decode, method = codec.DecodeXOAuth2, "xoauth2"
	}
	dec, user, token, ok := decode(s.scratch[:0], b64)
	s.scratch = dec
	if !ok {
		wipe(dec)
		s.info("client sent invalid " + method + " response")
		s.saslBad()
		return !s.closed
	}
	if !credentialClean(user) || !credentialClean(token) {
		wipe(dec)
		return s.saslDirty()
	}
	s.login = append(s.login[:0], user...)
	s.pass = append(s.pass[:0], token...)
	wipe(dec)
	return s.startAuth(method)
}

// oauthMethod reports whether an Auth-Method is one of the OAuth
// mechanisms (saslOAuth sets them).
func oauthMethod(method string) bool {
	return method == "oauthbearer" || method == "xoauth2"
}

// saslOAuthError sends the auth server's Auth-Error-SASL value as the
// error challenge of a failed OAUTHBEARER / XOAUTH2 exchange (RFC 7628
// §3.2.2); the failure reply follows the client's dummy response. Called
// on the loop, back in pre-auth.
func (s *session) saslOAuthError(d *saslDialect, text string, stay bool) {
	b := append(s.loop.wbuf[:0], d.challenge...)
	b = append(b, text...)
	b = append(b, "\r\n"...)
	s.loop.wbuf = b
	s.write(b)
	s.sasl = saslOAuthErrorClose
	if stay {
		s.sasl = saslOAuthErrorStay
	}
}

// saslOAuthDummy takes the client's response to an error challenge: the
// dummy response ("AQ==", or an empty line) gets the failure reply,
// anything else the protocol's error (nginx PR #1590's behaviour).
func (s *session) saslOAuthDummy(step saslStep, line []byte) bool {
	if !codec.OAuthDummyResponse(line) {
		s.saslBad()
		return !s.closed
	}
	s.srv.ops.authFailed(s)
	if step == saslOAuthErrorClose {
		s.close("auth failed")
		return false
	}
	return !s.closed
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

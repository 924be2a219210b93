package codec

import (
	"bytes"
	"strconv"
)

// SASL prompts sent by nginx for AUTHENTICATE/AUTH LOGIN (and EXTERNAL's
// identity prompt): base64("Username:") and base64("Password:").
var (
	SASLUsernamePrompt = []byte("VXNlcm5hbWU6")
	SASLPasswordPrompt = []byte("UGFzc3dvcmQ6")
)

// SASLMech is a SASL mechanism the proxy knows.
type SASLMech uint8

const (
	SASLUnknown     SASLMech = iota
	SASLPlain                // RFC 4616
	SASLLogin                // draft-murchison-sasl-login
	SASLCramMD5              // RFC 2195
	SASLExternal             // RFC 4422 Appendix A
	SASLOAuthBearer          // RFC 7628
	SASLXOAuth2              // Google's XOAUTH2
)

// ParseSASLMech recognises a mechanism name, ignoring ASCII case
// (RFC 4422 §3.1: names are case-insensitive on the wire).
func ParseSASLMech(name []byte) SASLMech {
	switch len(name) {
	case 5:
		if lineEqualFold(name, "PLAIN") {
			return SASLPlain
		}
		if lineEqualFold(name, "LOGIN") {
			return SASLLogin
		}
	case 7:
		if lineEqualFold(name, "XOAUTH2") {
			return SASLXOAuth2
		}
	case 11:
		if lineEqualFold(name, "OAUTHBEARER") {
			return SASLOAuthBearer
		}
	case 8:
		if lineEqualFold(name, "CRAM-MD5") {
			return SASLCramMD5
		}
		if lineEqualFold(name, "EXTERNAL") {
			return SASLExternal
		}
	}
	return SASLUnknown
}

// saslCramDigestLen is the length of CRAM-MD5's hex digest; like nginx, the
// length is checked and the hex digits are not.
const saslCramDigestLen = 32

// DecodePlain decodes a PLAIN message (RFC 4616): base64 of
// "authzid NUL authcid NUL passwd". It needs exactly two NULs and a
// non-empty authcid, which is the login; the authzid is ignored (nginx
// drops it too) and an empty password is allowed. decoded is dst with the
// message appended; login and pass alias it.
//
// nginx 1.22 also accepts an empty login and NULs inside the password
// (verified); both are refused here.
func DecodePlain(dst, b64 []byte) (decoded []byte, login, pass []byte, ok bool) {
	decoded, ok = DecodeBase64(dst, b64)
	if !ok {
		return dst, nil, nil, false
	}
	msg := decoded[len(dst):]
	i := bytes.IndexByte(msg, 0)
	if i < 0 {
		return dst, nil, nil, false
	}
	rest := msg[i+1:]
	j := bytes.IndexByte(rest, 0)
	if j <= 0 || bytes.IndexByte(rest[j+1:], 0) >= 0 {
		return dst, nil, nil, false
	}
	return decoded, rest[:j], rest[j+1:], true
}

// DecodeCramMD5 decodes a CRAM-MD5 response (RFC 2195): base64 of
// "user SP digest". The login is the part before the first space and must
// not be empty (nginx 1.22 lets an empty one through); the digest is the
// rest and must be exactly 32 bytes. login and digest alias decoded.
func DecodeCramMD5(dst, b64 []byte) (decoded []byte, login, digest []byte, ok bool) {
	decoded, ok = DecodeBase64(dst, b64)
	if !ok {
		return dst, nil, nil, false
	}
	msg := decoded[len(dst):]
	i := bytes.IndexByte(msg, ' ')
	if i <= 0 || len(msg)-i-1 != saslCramDigestLen {
		return dst, nil, nil, false
	}
	return decoded, msg[:i], msg[i+1:], true
}

// AppendSalt appends nginx's challenge salt "<RANDOM.UNIXTIME@server_name>"
// to dst, e.g. "<1845796265.1795628887@mx.test>". The caller supplies the
// random number and the time; nginx makes one salt per session and reuses
// it for later CRAM-MD5 (and APOP) attempts.
func AppendSalt(dst []byte, random uint32, unix int64, serverName string) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendUint(dst, uint64(random), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, unix, 10)
	dst = append(dst, '@')
	dst = append(dst, serverName...)
	return append(dst, '>')
}

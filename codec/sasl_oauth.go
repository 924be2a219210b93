package codec

import (
	"bytes"
	"encoding/base64"
	"slices"
)

// OAuth 2.0 bearer tokens over SASL: OAUTHBEARER (RFC 7628) and Google's
// XOAUTH2, as nginx's PR #1590 takes them: the login and the token go to
// auth_http as Auth-User and Auth-Pass (Auth-Method "oauthbearer" or
// "xoauth2"), and an auth server's Auth-Error-SASL value is sent to the
// client as the error challenge RFC 7628 §3.2.2 describes.

// DecodeOAuthBearer decodes an OAUTHBEARER client response (RFC 7628
// §3.1): base64 of a GS2 header "n,a=USER," (or "y," or "p=...,", the
// authzid optional), then key=value pairs each ended by ^A, with an
// "auth=Bearer TOKEN" pair, and a final ^A. The user is unescaped (=2C is
// ',', =3D is '='); it may be empty when the header names none. decoded
// is dst with the message and the unescaped user appended; user and token
// alias it. ok is false for anything else, a token-less or non-Bearer
// auth pair included.
func DecodeOAuthBearer(dst, b64 []byte) (decoded, user, token []byte, ok bool) {
	decoded, ok = DecodeBase64(dst, b64)
	if !ok {
		return dst, nil, nil, false
	}
	// Room for the unescaped user, so that every slice aliases one array
	// (the caller wipes it).
	decoded = slices.Grow(decoded, len(decoded)-len(dst))
	msg := decoded[len(dst):]
	// gs2-cb-flag: "n", "y" or "p=<name>".
	comma := bytes.IndexByte(msg, ',')
	if comma < 0 || !(bytes.Equal(msg[:comma], []byte("n")) || bytes.Equal(msg[:comma], []byte("y")) || bytes.HasPrefix(msg[:comma], []byte("p="))) {
		return dst, nil, nil, false
	}
	rest := msg[comma+1:]
	comma = bytes.IndexByte(rest, ',')
	if comma < 0 {
		return dst, nil, nil, false
	}
	authzid := rest[:comma]
	if len(authzid) > 0 && !bytes.HasPrefix(authzid, []byte("a=")) {
		return dst, nil, nil, false
	}
	if len(authzid) > 0 {
		authzid = authzid[2:]
	}
	// gs2-header kvsep *(kvpair kvsep) kvsep
	pairs := rest[comma+1:]
	if len(pairs) == 0 || pairs[0] != 0x01 {
		return dst, nil, nil, false
	}
	token, ok = oauthPairs(pairs[1:], 0x01)
	if !ok {
		return dst, nil, nil, false
	}
	// The user is unescaped after the message, so token still aliases it.
	start := len(decoded)
	for i := 0; i < len(authzid); i++ {
		c := authzid[i]
		if c == '=' {
			if i+2 >= len(authzid) {
				return dst, nil, nil, false
			}
			switch string(authzid[i+1 : i+3]) {
			case "2C":
				c = ','
			case "3D":
				c = '='
			default:
				return dst, nil, nil, false
			}
			i += 2
		}
		decoded = append(decoded, c)
	}
	return decoded, decoded[start:], token, true
}

// DecodeXOAuth2 decodes an XOAUTH2 client response: base64 of
// "user=USER^Aauth=Bearer TOKEN^A^A". user and token alias decoded.
func DecodeXOAuth2(dst, b64 []byte) (decoded, user, token []byte, ok bool) {
	decoded, ok = DecodeBase64(dst, b64)
	if !ok {
		return dst, nil, nil, false
	}
	msg := decoded[len(dst):]
	if !bytes.HasPrefix(msg, []byte("user=")) {
		return dst, nil, nil, false
	}
	end := bytes.IndexByte(msg, 0x01)
	if end < 0 {
		return dst, nil, nil, false
	}
	user = msg[len("user="):end]
	token, ok = oauthPairs(msg[end+1:], 0x01)
	if !ok || len(user) == 0 {
		return dst, nil, nil, false
	}
	return decoded, user, token, true
}

// oauthPairs reads key=value pairs ended by sep up to the empty pair that
// ends the message, and returns the token of the "auth=Bearer TOKEN"
// pair (the scheme matched without regard to case, RFC 6750 §2.1).
func oauthPairs(b []byte, sep byte) (token []byte, ok bool) {
	for len(b) > 0 {
		end := bytes.IndexByte(b, sep)
		if end < 0 {
			return nil, false
		}
		pair := b[:end]
		b = b[end+1:]
		if len(pair) == 0 {
			// The final separator: nothing may follow.
			return token, len(b) == 0 && len(token) > 0
		}
		if v, found := bytes.CutPrefix(pair, []byte("auth=")); found {
			if len(v) <= len("Bearer ") || !lineEqualFold(v[:len("Bearer")], "BEARER") || v[len("Bearer")] != ' ' {
				return nil, false
			}
			token = v[len("Bearer "):]
		}
	}
	return nil, false
}

// OAuthDummyResponse reports whether line (a client's response to an
// error challenge, without its line end) is the dummy response that
// closes a failed exchange: "AQ==" (base64 of ^A, RFC 7628 §3.2.3) or an
// empty line (XOAUTH2's habit).
func OAuthDummyResponse(line []byte) bool {
	return len(line) == 0 || string(line) == "AQ=="
}

// AppendOAuthResponse appends the base64 client response of OAUTHBEARER
// ("n,a=USER,^Aauth=Bearer TOKEN^A^A", the user escaped as RFC 5801
// says) or, with xoauth2, of XOAUTH2 ("user=USER^Aauth=Bearer TOKEN^A^A"):
// what mailproxy sends a backend to log in with the client's token. No
// line end. The raw message is staged in dst past the encoding and
// cleared: the token must not linger there.
func AppendOAuthResponse(dst []byte, xoauth2 bool, user, token []byte) []byte {
	start := len(dst)
	raw := len(dst)
	if xoauth2 {
		dst = append(dst, "user="...)
		dst = append(dst, user...)
	} else {
		dst = append(dst, "n,a="...)
		for _, c := range user {
			switch c {
			case ',':
				dst = append(dst, "=2C"...)
			case '=':
				dst = append(dst, "=3D"...)
			default:
				dst = append(dst, c)
			}
		}
		dst = append(dst, ',')
	}
	dst = append(dst, "\x01auth=Bearer "...)
	dst = append(dst, token...)
	dst = append(dst, "\x01\x01"...)
	n := len(dst) - raw
	enc := base64.StdEncoding.EncodedLen(n)
	// Move the raw message past the room for the encoding, then encode.
	dst = append(dst, make([]byte, enc)...)
	copy(dst[start+enc:], dst[raw:raw+n])
	base64.StdEncoding.Encode(dst[start:start+enc], dst[start+enc:start+enc+n])
	clear(dst[start+enc:])
	return dst[:start+enc]
}

package codec

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func TestDecodeOAuthBearer(t *testing.T) {
	f := func(msg, user, token string, ok bool) {
		t.Helper()
		b64 := base64.StdEncoding.EncodeToString([]byte(msg))
		_, u, tok, got := DecodeOAuthBearer(nil, []byte(b64))
		if got != ok || string(u) != user || string(tok) != token {
			t.Fatalf("%q: got %q %q %v, want %q %q %v", msg, u, tok, got, user, token, ok)
		}
	}
	// RFC 7628 §4.1 and nginx PR #1590's test cases.
	f("n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
		"user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", true)
	f("n,a=test@example.com,\x01auth=Bearer secretok\x01\x01", "test@example.com", "secretok", true)
	f("n,a=test=3D=2C@example.com,\x01auth=Bearer secretok\x01\x01", "test=,@example.com", "secretok", true)
	f("n,,\x01auth=Bearer tok\x01\x01", "", "tok", true)
	f("y,a=u,\x01auth=bearer tok\x01\x01", "u", "tok", true)
	f("p=tls-unique,a=u,\x01auth=Bearer tok\x01\x01", "u", "tok", true)
	f("n,a=u,\x01auth=Basic dTpw\x01\x01", "", "", false)
	f("n,a=u,\x01auth=Bearer \x01\x01", "", "", false)
	f("n,a=u,\x01host=x\x01\x01", "", "", false)
	f("n,a=u,\x01auth=Bearer tok\x01", "", "", false)
	f("n,a=u,\x01auth=Bearer tok\x01\x01junk", "", "", false)
	f("x,a=u,\x01auth=Bearer tok\x01\x01", "", "", false)
	f("n,a=u=4F,\x01auth=Bearer tok\x01\x01", "", "", false)
	f("n,b=u,\x01auth=Bearer tok\x01\x01", "", "", false)
	f("", "", "", false)
	if _, _, _, ok := DecodeOAuthBearer(nil, []byte("!!")); ok {
		t.Fatal("bad base64 accepted")
	}
}

func TestDecodeXOAuth2(t *testing.T) {
	f := func(msg, user, token string, ok bool) {
		t.Helper()
		b64 := base64.StdEncoding.EncodeToString([]byte(msg))
		_, u, tok, got := DecodeXOAuth2(nil, []byte(b64))
		if got != ok || string(u) != user || string(tok) != token {
			t.Fatalf("%q: got %q %q %v, want %q %q %v", msg, u, tok, got, user, token, ok)
		}
	}
	f("user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01",
		"someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", true)
	f("user=\x01auth=Bearer t\x01\x01", "", "", false)
	f("user=u\x01auth=Bearer t\x01", "", "", false)
	f("usr=u\x01auth=Bearer t\x01\x01", "", "", false)
}

func TestParseSASLMechOAuth(t *testing.T) {
	if ParseSASLMech([]byte("oauthbearer")) != SASLOAuthBearer || ParseSASLMech([]byte("XOAUTH2")) != SASLXOAuth2 {
		t.Fatal("OAuth mechanisms not recognised")
	}
}

func FuzzDecodeOAuthBearer(f *testing.F) {
	f.Add([]byte("bixhPXVzZXJAZXhhbXBsZS5jb20sAWF1dGg9QmVhcmVyIHRvawEB"))
	f.Add([]byte("dXNlcj11AWF1dGg9QmVhcmVyIHQBAQ=="))
	f.Fuzz(func(t *testing.T, b []byte) {
		dst := []byte("prefix")
		d, u, tok, ok := DecodeOAuthBearer(dst, b)
		if ok && (len(tok) == 0 || len(d) < len(dst)) {
			t.Fatalf("ok with token %q", tok)
		}
		_ = u
		d, u, tok, ok = DecodeXOAuth2(dst, b)
		if ok && (len(tok) == 0 || len(u) == 0 || len(d) < len(dst)) {
			t.Fatalf("xoauth2 ok with user %q token %q", u, tok)
		}
	})
}

// TestAppendOAuthResponse: what goes to a backend decodes to the same user
// and token, and the raw token is not left in the buffer.
func TestAppendOAuthResponse(t *testing.T) {
	for _, x := range []bool{false, true} {
		for _, user := range []string{"u@example.com", "a=b,c"} {
			if x && user == "a=b,c" {
				continue
			}
			b := AppendOAuthResponse([]byte("pre "), x, []byte(user), []byte("tok-123"))
			if string(b[:4]) != "pre " {
				t.Fatalf("prefix lost: %q", b)
			}
			decode := DecodeOAuthBearer
			if x {
				decode = DecodeXOAuth2
			}
			_, u, tok, ok := decode(nil, b[4:])
			if !ok || string(u) != user || string(tok) != "tok-123" {
				t.Fatalf("xoauth2=%v %q: decoded %q %q %v", x, user, u, tok, ok)
			}
			if bytes.Contains(b[:cap(b)], []byte("tok-123")) {
				t.Fatal("the raw token is left in the buffer")
			}
		}
	}
}

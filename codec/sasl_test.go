package codec

import (
	"fmt"
	"testing"
)

func TestDecodeBase64(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		dst := []byte("pre:")
		out, ok := DecodeBase64(dst, []byte(in))
		got := "false"
		if ok {
			got = fmt.Sprintf("%q", out[len(dst):])
		}
		if got != want {
			t.Errorf("DecodeBase64(%q) = %s, want %s", in, got, want)
		}
		if string(out[:len(dst)]) != "pre:" {
			t.Errorf("DecodeBase64(%q) changed dst to %q", in, out)
		}
	}
	f("dXNlcg==", `"user"`)
	f("dXNlcjE=", `"user1"`)
	f("dXNlcjEy", `"user12"`)
	// unpadded, as nginx's ngx_decode_base64 accepts (verified with 1.22)
	f("dXNlcg", `"user"`)
	f("dXNlcjE", `"user1"`)
	f("AA", `"\x00"`)
	f("", `false`)
	f("*", `false`)
	f("=", `false`)
	f("==", `false`)
	f("d", `false`)
	f("dXNlc", `false`)
	f("dXNlcg=", `false`)
	f("dXNlcg==x", `false`)
	f("dXNlcg==dXNl", `false`)
	f("dX=lcg==", `false`)
	f("dXNl\r\ncg==", `false`)
	f("dXNl cg==", `false`)
	f("dXNl-g==", `false`)
	f("dXNl_g==", `false`)
}

func TestAppendBase64(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(AppendBase64([]byte("x"), []byte(in))); got != "x"+want {
			t.Errorf("AppendBase64(%q) = %q, want %q", in, got, "x"+want)
		}
	}
	f("", "")
	f("Username:", "VXNlcm5hbWU6")
	f("Password:", "UGFzc3dvcmQ6")
	f("\x00u\x00p", "AHUAcA==")
	if string(SASLUsernamePrompt) != string(AppendBase64(nil, []byte("Username:"))) ||
		string(SASLPasswordPrompt) != string(AppendBase64(nil, []byte("Password:"))) {
		t.Error("prompts are not base64 of Username: and Password:")
	}
}

func TestDecodePlain(t *testing.T) {
	f := func(msg, want string) {
		t.Helper()
		dst := make([]byte, 2, 64)
		_, login, pass, ok := DecodePlain(dst, AppendBase64(nil, []byte(msg)))
		got := "false"
		if ok {
			got = fmt.Sprintf("%q %q", login, pass)
		}
		if got != want {
			t.Errorf("DecodePlain(%q) = %s, want %s", msg, got, want)
		}
	}
	f("\x00user\x00pass", `"user" "pass"`)
	f("authz\x00user\x00pass", `"user" "pass"`)
	f("\x00user\x00", `"user" ""`)
	f("\x00us er\x00p w", `"us er" "p w"`)
	f("\x00user\x00pass\x00", `false`)
	f("\x00user\x00pa\x00ss", `false`)
	f("\x00\x00pass", `false`)
	f("user\x00pass", `false`)
	f("userpass", `false`)
	f("\x00", `false`)
	f("", `false`)
	if _, _, _, ok := DecodePlain(nil, []byte("*")); ok {
		t.Error(`DecodePlain("*") succeeded`)
	}
	if _, _, _, ok := DecodePlain(nil, []byte("AHUAcA=x")); ok {
		t.Error(`DecodePlain(bad base64) succeeded`)
	}
}

func TestDecodeCramMD5(t *testing.T) {
	const d = "0123456789abcdef0123456789abcdef"
	f := func(msg, want string) {
		t.Helper()
		_, login, digest, ok := DecodeCramMD5(nil, AppendBase64(nil, []byte(msg)))
		got := "false"
		if ok {
			got = fmt.Sprintf("%q %q", login, digest)
		}
		if got != want {
			t.Errorf("DecodeCramMD5(%q) = %s, want %s", msg, got, want)
		}
	}
	f("user "+d, `"user" "`+d+`"`)
	f("user ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", `"user" "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"`) // hex not checked, as nginx
	f("user  "+d[1:], `"user" " `+d[1:]+`"`)
	f("us er "+d, `false`)
	f("user "+d+"0", `false`)
	f("user "+d[1:], `false`)
	f(" "+d, `false`) // nginx 1.22 passes an empty login; refused here
	f("user"+d, `false`)
	f("", `false`)
}

func TestAppendSalt(t *testing.T) {
	f := func(random uint32, unix int64, name, want string) {
		t.Helper()
		if got := string(AppendSalt([]byte("+ "), random, unix, name)); got != "+ "+want {
			t.Errorf("AppendSalt = %q, want %q", got, "+ "+want)
		}
	}
	f(1845796265, 1795628887, "mx.test", "<1845796265.1795628887@mx.test>")
	f(0, 0, "", "<0.0@>")
	f(4294967295, 1, "a", "<4294967295.1@a>")
}

func TestParseSASLMech(t *testing.T) {
	f := func(in string, want SASLMech) {
		t.Helper()
		if got := ParseSASLMech([]byte(in)); got != want {
			t.Errorf("ParseSASLMech(%q) = %d, want %d", in, got, want)
		}
	}
	f("PLAIN", SASLPlain)
	f("plain", SASLPlain)
	f("Login", SASLLogin)
	f("LOGIN", SASLLogin)
	f("cram-md5", SASLCramMD5)
	f("CRAM-MD5", SASLCramMD5)
	f("external", SASLExternal)
	f("XOAUTH2", SASLXOAuth2)
	f("OAUTHBEARER", SASLOAuthBearer)
	f("oauthbearer", SASLOAuthBearer)
	f("XOAUTH", SASLUnknown)
	f("SCRAM-SHA-256", SASLUnknown)
	f("CRAM_MD5", SASLUnknown)
	f("CRAM-MD4", SASLUnknown)
	f("PLAIN ", SASLUnknown)
	f("", SASLUnknown)
	f("pl\x00in", SASLUnknown)
}

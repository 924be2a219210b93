package codec

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzIMAPParse checks the IMAP parser's invariants: no panic, 0 <= consumed
// <= len(buf) (checked inside imapEvents), and the same events whether the
// input arrives whole, byte by byte, or split at random points.
func FuzzIMAPParse(f *testing.F) {
	for _, s := range []string{
		"a1 LOGIN user pass\r\n",
		"a1 LOGIN {4}\r\nuser {4+}\r\npass\r\na2 NOOP\r\n",
		"a1 LOGIN \"u\\\"s\" {0}\r\n\r\n",
		"a1 CAPABILITY\r\na2 NOOP\na3 LOGOUT\r\n",
		"a1 AUTHENTICATE PLAIN AHUAcA==\r\n",
		"a1 ID (\"name\" \"x\" \"v\" NIL)\r\n",
		"a1 ID ({4}\r\nname NIL)\r\n",
		"a1 FOO {3+}\r\nabc\r\n",
		"a1 LOGIN {99999999999999999999}\r\n",
		"* BAD\r\n\r\n\x00\xff",
		"a1 LOGIN a b c d\r\n",
	} {
		f.Add([]byte(s), uint16(4096), uint64(1))
		f.Add([]byte(s), uint16(20), uint64(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, limit uint16, seed uint64) {
		lim := int(limit)
		whole := imapEvents(t, data, lim, imapWhole)
		if got := imapEvents(t, data, lim, imapByByte); got != whole {
			t.Fatalf("limit %d: byte by byte\n got  %s\n want %s", lim, got, whole)
		}
		r := rand.New(rand.NewPCG(seed, seed>>32))
		split := func(left int) int { return 1 + r.IntN(left) }
		if got := imapEvents(t, data, lim, split); got != whole {
			t.Fatalf("limit %d: split (seed %d)\n got  %s\n want %s", lim, seed, got, whole)
		}
	})
}

// FuzzSASL checks that the SASL decoders do not panic on any input, keep
// dst intact, and that DecodePlain and DecodeBase64 round-trip what
// AppendBase64 built.
func FuzzSASL(f *testing.F) {
	f.Add([]byte("AHUAcA=="), []byte("authz"), []byte("user"), []byte("pass"))
	f.Add([]byte("*"), []byte(""), []byte("u"), []byte(""))
	f.Add([]byte("dXNlciAwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg"), []byte("a\x00"), []byte("b c"), []byte("\xff"))
	f.Fuzz(func(t *testing.T, raw, authz, authc, pass []byte) {
		dst := []byte("keep")
		for _, out := range [][]byte{
			saslFirst(DecodeBase64(dst, raw)),
			saslFirstOf4(DecodePlain(dst, raw)),
			saslFirstOf4(DecodeCramMD5(dst, raw)),
		} {
			if !bytes.HasPrefix(out, []byte("keep")) {
				t.Fatalf("dst clobbered: %q", out)
			}
		}
		ParseSASLMech(raw)
		ReadLine(raw, len(authz))

		if len(raw) > 0 {
			dec, ok := DecodeBase64(nil, AppendBase64(nil, raw))
			if !ok || !bytes.Equal(dec, raw) {
				t.Fatalf("base64 round trip of %q: %q %v", raw, dec, ok)
			}
			unpadded := bytes.TrimRight(AppendBase64(nil, raw), "=")
			if dec, ok := DecodeBase64(nil, unpadded); !ok || !bytes.Equal(dec, raw) {
				t.Fatalf("unpadded base64 round trip of %q: %q %v", raw, dec, ok)
			}
		}

		msg := append(append(append(append(append([]byte(nil), authz...), 0), authc...), 0), pass...)
		_, login, pw, ok := DecodePlain(dst, AppendBase64(nil, msg))
		valid := len(authc) > 0 && bytes.Count(msg, []byte{0}) == 2
		if ok != valid {
			t.Fatalf("DecodePlain(%q) ok=%v, want %v", msg, ok, valid)
		}
		if ok && (!bytes.Equal(login, authc) || !bytes.Equal(pw, pass)) {
			t.Fatalf("DecodePlain(%q) = %q %q", msg, login, pw)
		}
	})
}

func saslFirst(b []byte, _ bool) []byte { return b }

func saslFirstOf4(b, _, _ []byte, _ bool) []byte { return b }

package mailtls

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The keys of these tests are made by the test with the openssl binary, as
// an operator makes them; openssl is also the oracle for the decrypted key.

const testPass = "s3cret pass"

// needOpenSSL fails (not skips) without openssl: scripts/test.sh installs
// it, so its absence is a setup error.
func needOpenSSL(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl not found (Debian package openssl): %v", err)
	}
	return bin
}

// openssl runs the openssl binary and fails the test if it fails.
func openssl(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(needOpenSSL(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// encryptedDER reads a PEM file that must hold one ENCRYPTED PRIVATE KEY
// block and returns its DER.
func encryptedDER(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "ENCRYPTED PRIVATE KEY" {
		t.Fatalf("%s: no ENCRYPTED PRIVATE KEY block:\n%s", file, b)
	}
	return block.Bytes
}

// plainKey makes an unencrypted key for `openssl pkcs8 -topk8` to encrypt.
func plainKey(t testing.TB, dir string) string {
	t.Helper()
	file := filepath.Join(dir, "plain.pem")
	openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", file)
	return file
}

func TestDecryptPKCS8MatchesOpenSSL(t *testing.T) {
	dir := t.TempDir()
	plain := plainKey(t, dir)
	n := 0
	// f makes a key with openssl, and checks that
	// the right password gives what `openssl pkey` decrypts and a wrong one
	// gives ErrPKCS8WrongPassword.
	f := func(pass string, args ...string) {
		t.Helper()
		n++
		file := filepath.Join(dir, "k"+string(rune('a'+n))+".pem")
		openssl(t, withOut(args, file)...)
		der := encryptedDER(t, file)
		got, err := DecryptPKCS8(der, []byte(pass))
		if err != nil {
			t.Fatalf("openssl %s: %v", strings.Join(args, " "), err)
		}
		// PEM, not -outform DER: openssl writes RSA keys as PKCS#1 in DER.
		want, _ := pem.Decode(openssl(t, "pkey", "-in", file, "-passin", "pass:"+pass))
		if want == nil || want.Type != "PRIVATE KEY" || !bytes.Equal(got, want.Bytes) {
			t.Fatalf("openssl %s: decrypted key differs from openssl pkey's", strings.Join(args, " "))
		}
		if _, err := x509.ParsePKCS8PrivateKey(got); err != nil {
			t.Fatalf("openssl %s: %v", strings.Join(args, " "), err)
		}
		for _, wrong := range []string{"", pass + "x", strings.ToUpper(pass), "wrong"} {
			if _, err := DecryptPKCS8(der, []byte(wrong)); !errors.Is(err, ErrPKCS8WrongPassword) {
				t.Fatalf("openssl %s, password %q: got %v, want ErrPKCS8WrongPassword", strings.Join(args, " "), wrong, err)
			}
		}
	}
	p := "pass:" + testPass
	// What the issue names: OpenSSL 3's defaults (PBES2, PBKDF2 with
	// hmacWithSHA256, 2048 iterations).
	f(testPass, "genrsa", "-aes128", "-passout", p, "2048")
	f(testPass, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", p)
	f(testPass, "genpkey", "-algorithm", "ED25519", "-aes-192-cbc", "-pass", p)
	f(testPass, "genpkey", "-algorithm", "X25519", "-aes256", "-pass", p)
	f(testPass, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-des3", "-pass", p)
	// Each cipher and PRF through openssl pkcs8. hmacWithSHA1 is the DEFAULT
	// of RFC 8018, so openssl leaves the PRF out.
	topk8 := func(pass string, opts ...string) {
		t.Helper()
		f(pass, append([]string{"pkcs8", "-topk8", "-in", plain, "-passout", "pass:" + pass}, opts...)...)
	}
	topk8(testPass, "-v2", "des3", "-v2prf", "hmacWithSHA1")
	topk8(testPass, "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1")
	topk8(testPass, "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA224")
	topk8(testPass, "-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA256")
	topk8(testPass, "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA384")
	topk8(testPass, "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA512")
	topk8(testPass, "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA512-224")
	topk8(testPass, "-v2", "des3", "-v2prf", "hmacWithSHA512-256")
	topk8(testPass, "-v2", "aes-128-cbc", "-iter", "1")
	topk8(testPass, "-v2", "aes-128-cbc", "-iter", "100000")
	// The password is bytes, as OpenSSL takes it: UTF-8 stays UTF-8.
	topk8("pässwörd", "-v2", "aes-256-cbc")
}

func TestDecryptPKCS8UnsupportedNamesScheme(t *testing.T) {
	dir := t.TempDir()
	plain := plainKey(t, dir)
	n := 0
	// f makes a key with openssl and checks that even the right password
	// gives ErrPKCS8Unsupported with every one of want in the message.
	f := func(args []string, want ...string) {
		t.Helper()
		n++
		file := filepath.Join(dir, "u"+string(rune('a'+n))+".pem")
		openssl(t, withOut(args, file)...)
		_, err := DecryptPKCS8(encryptedDER(t, file), []byte(testPass))
		if !errors.Is(err, ErrPKCS8Unsupported) {
			t.Fatalf("openssl %s: got %v, want ErrPKCS8Unsupported", strings.Join(args, " "), err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("openssl %s: %q does not name %q", strings.Join(args, " "), err, w)
			}
		}
	}
	topk8 := []string{"pkcs8", "-topk8", "-in", plain, "-passout", "pass:" + testPass}
	f(append(topk8, "-v1", "PBE-SHA1-3DES"), "encryption scheme", "pbeWithSHA1And3-KeyTripleDES-CBC", "1.2.840.113549.1.12.1.3")
	f(append(topk8, "-scrypt"), "key derivation function", "scrypt", "1.3.6.1.4.1.11591.4.11")
	f(append(topk8, "-v2", "camellia-128-cbc"), "cipher", "camellia-128-cbc", "1.2.392.200011.61.1.1.1.2")
	// The right password, but a key crypto/tls cannot use.
	f([]string{"genpkey", "-algorithm", "ED448", "-aes256", "-pass", "pass:" + testPass}, "key algorithm", "ED448", "1.3.101.113")
}

// withOut puts "-out file" right after the openssl command name, before
// any operand (genrsa takes its key size last).
func withOut(args []string, file string) []string {
	return append([]string{args[0], "-out", file}, args[1:]...)
}

// rewrite re-encodes an EncryptedPrivateKeyInfo made by openssl after edit
// has changed its fields, to build keys that openssl will not write.
func rewrite(t testing.TB, der []byte, edit func(e *encryptedPrivateKeyInfo, p *pbkdf2Params, iv *[]byte)) []byte {
	t.Helper()
	var e encryptedPrivateKeyInfo
	var s pbes2Params
	var k pbkdf2Params
	var iv []byte
	if unmarshalAll(der, &e) != nil ||
		unmarshalAll(e.Algo.Parameters.FullBytes, &s) != nil ||
		unmarshalAll(s.KDF.Parameters.FullBytes, &k) != nil ||
		unmarshalAll(s.Enc.Parameters.FullBytes, &iv) != nil {
		t.Fatal("openssl wrote a key rewrite cannot read")
	}
	edit(&e, &k, &iv)
	must := func(b []byte, err error) asn1.RawValue {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return asn1.RawValue{FullBytes: b}
	}
	s.KDF.Parameters = must(asn1.Marshal(k))
	s.Enc.Parameters = must(asn1.Marshal(iv))
	e.Algo.Parameters = must(asn1.Marshal(s))
	return must(asn1.Marshal(e)).FullBytes
}

func TestDecryptPKCS8Hostile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "k.pem")
	openssl(t, "pkcs8", "-topk8", "-in", plainKey(t, dir), "-v2", "aes-128-cbc", "-passout", "pass:"+testPass, "-out", file)
	der := encryptedDER(t, file)
	// f checks that the key edited by edit gives want, and a message with
	// msg in it.
	f := func(want error, msg string, edit func(e *encryptedPrivateKeyInfo, p *pbkdf2Params, iv *[]byte)) {
		t.Helper()
		_, err := DecryptPKCS8(rewrite(t, der, edit), []byte(testPass))
		if !errors.Is(err, want) || !strings.Contains(err.Error(), msg) {
			t.Fatalf("got %v, want %v with %q", err, want, msg)
		}
	}
	// The cap is checked before any work: were it not, these would run for
	// minutes (2^31) or forever (2^80) instead of failing at once.
	f(ErrPKCS8Unsupported, "iteration count 10000001 is above mailproxy's limit of 10000000", func(_ *encryptedPrivateKeyInfo, p *pbkdf2Params, _ *[]byte) {
		p.Iter = big.NewInt(MaxPBKDF2Iterations + 1)
	})
	f(ErrPKCS8Unsupported, "iteration count 2147483647 is above", func(_ *encryptedPrivateKeyInfo, p *pbkdf2Params, _ *[]byte) {
		p.Iter = big.NewInt(1<<31 - 1)
	})
	f(ErrPKCS8Unsupported, "iteration count 1208925819614629174706176 is above", func(_ *encryptedPrivateKeyInfo, p *pbkdf2Params, _ *[]byte) {
		p.Iter = new(big.Int).Lsh(big.NewInt(1), 80)
	})
	f(ErrPKCS8Malformed, "iteration count 0", func(_ *encryptedPrivateKeyInfo, p *pbkdf2Params, _ *[]byte) {
		p.Iter = big.NewInt(0)
	})
	f(ErrPKCS8Malformed, "iteration count -5", func(_ *encryptedPrivateKeyInfo, p *pbkdf2Params, _ *[]byte) {
		p.Iter = big.NewInt(-5)
	})
	f(ErrPKCS8Malformed, "key length 32, the cipher needs 16", func(_ *encryptedPrivateKeyInfo, p *pbkdf2Params, _ *[]byte) {
		p.KeyLen = big.NewInt(32)
	})
	f(ErrPKCS8Malformed, "key length 0, the cipher needs 16", func(_ *encryptedPrivateKeyInfo, p *pbkdf2Params, _ *[]byte) {
		p.KeyLen = big.NewInt(0)
	})
	f(ErrPKCS8Malformed, "IV of 8 bytes, the cipher needs 16", func(_ *encryptedPrivateKeyInfo, _ *pbkdf2Params, iv *[]byte) {
		*iv = (*iv)[:8]
	})
	f(ErrPKCS8Malformed, "not a whole number of 16-byte blocks", func(e *encryptedPrivateKeyInfo, _ *pbkdf2Params, _ *[]byte) {
		e.Data = e.Data[:len(e.Data)-1]
	})
	f(ErrPKCS8Malformed, "encrypted data of 0 bytes", func(e *encryptedPrivateKeyInfo, _ *pbkdf2Params, _ *[]byte) {
		e.Data = nil
	})
	// A ciphertext cut by whole blocks decrypts to bad padding or a cut key.
	f(ErrPKCS8WrongPassword, "bad decrypt", func(e *encryptedPrivateKeyInfo, _ *pbkdf2Params, _ *[]byte) {
		e.Data = e.Data[:len(e.Data)-16]
	})

	// An explicit key length that matches the cipher is fine (openssl leaves
	// it out for AES, RFC 8018 allows it).
	ok := rewrite(t, der, func(_ *encryptedPrivateKeyInfo, p *pbkdf2Params, _ *[]byte) { p.KeyLen = big.NewInt(16) })
	if _, err := DecryptPKCS8(ok, []byte(testPass)); err != nil {
		t.Fatalf("explicit keyLength 16: %v", err)
	}

	for _, bad := range [][]byte{nil, {0x30}, {0x30, 0x00}, append(bytes.Clone(der), 0), der[:len(der)-1], []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----")} {
		if _, err := DecryptPKCS8(bad, []byte(testPass)); !errors.Is(err, ErrPKCS8Malformed) {
			t.Fatalf("% x: got %v, want ErrPKCS8Malformed", bad, err)
		}
	}
}

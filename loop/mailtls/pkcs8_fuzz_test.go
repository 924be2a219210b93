package mailtls

import (
	"crypto/x509"
	"errors"
	"math/big"
	"path/filepath"
	"testing"
)

// fuzzMaxIter keeps each fuzz run short; the seeds are written with
// `-iter 1` so that they still decrypt under it.
const fuzzMaxIter = 64

// FuzzDecryptPKCS8 checks, on any DER and password: no panic; every error
// is one of the three sentinels; whatever decrypts is a key crypto/x509
// parses. Seeds are keys openssl wrote, for each cipher and PRF, and
// rewrites of them that openssl would not write.
func FuzzDecryptPKCS8(f *testing.F) {
	dir := f.TempDir()
	plain := plainKey(f, dir)
	for i, opts := range [][]string{
		{"-v2", "aes-128-cbc"},
		{"-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA512"},
		{"-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA384"},
		{"-v2", "des3", "-v2prf", "hmacWithSHA1"},
		{"-v2", "des3", "-v2prf", "hmacWithSHA224"},
		{"-v2", "camellia-128-cbc"},
		{"-scrypt"},
		{"-v1", "PBE-SHA1-3DES"},
	} {
		file := filepath.Join(dir, string(rune('a'+i))+".pem")
		openssl(f, append([]string{"pkcs8", "-topk8", "-in", plain, "-passout", "pass:" + testPass, "-iter", "1", "-out", file}, opts...)...)
		der := encryptedDER(f, file)
		f.Add(der, []byte(testPass))
		f.Add(der, []byte("wrong"))
		if i == 0 {
			f.Add(rewrite(f, der, func(_ *encryptedPrivateKeyInfo, p *pbkdf2Params, _ *[]byte) { p.KeyLen = big.NewInt(16) }), []byte(testPass))
			f.Add(rewrite(f, der, func(_ *encryptedPrivateKeyInfo, p *pbkdf2Params, _ *[]byte) { p.Iter = big.NewInt(1 << 40) }), []byte(testPass))
		}
	}
	f.Fuzz(func(t *testing.T, der, password []byte) {
		out, err := decryptPKCS8(der, password, fuzzMaxIter)
		if err != nil {
			if !errors.Is(err, ErrPKCS8WrongPassword) && !errors.Is(err, ErrPKCS8Unsupported) && !errors.Is(err, ErrPKCS8Malformed) {
				t.Fatalf("error outside the sentinels: %v", err)
			}
			return
		}
		if _, err := x509.ParsePKCS8PrivateKey(out); err != nil {
			t.Fatalf("decrypted a key x509 cannot parse: %v", err)
		}
	})
}

// Encrypted PKCS#8 private keys ("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
// the form OpenSSL 3 writes for `openssl genrsa -aes128`, `openssl genpkey
// -aes256` and `openssl pkcs8 -topk8`. nginx loads them with the passphrases
// of ssl_password_file; Go's crypto/x509 does not decrypt them, so this file
// does, with the standard library only.
//
// Implemented: EncryptedPrivateKeyInfo (RFC 5958 §3) whose scheme is PBES2
// (RFC 8018 §6.2, params in appendix A.4) with PBKDF2 (§5.2, A.2) over
// hmacWithSHA1 (the default), SHA224, SHA256, SHA384, SHA512, SHA512-224 or
// SHA512-256, and AES-128/192/256-CBC (RFC 3565 §4.1, RFC 8018 B.2.5) or
// DES-EDE3-CBC (B.2.2), padded as in §6.1.1 step 4.
// Refused, naming the scheme: PBES1 and the PKCS#12 PBE schemes, scrypt,
// other ciphers (Camellia, RC2, single DES: OpenSSL 3 itself needs its
// legacy provider for the last two).

package mailtls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"math/big"
)

// ErrPKCS8WrongPassword means the password does not decrypt the key: the
// padding or the decrypted PrivateKeyInfo is not valid. Another password
// may work.
var ErrPKCS8WrongPassword = errors.New("bad decrypt (wrong password?)")

// ErrPKCS8Unsupported means the key is protected by a scheme, key
// derivation, PRF or cipher that DecryptPKCS8 does not implement (the
// error names it, with its OID), or by a PBKDF2 iteration count above
// MaxPBKDF2Iterations. No password will help.
var ErrPKCS8Unsupported = errors.New("unsupported encrypted PKCS#8 key")

// ErrPKCS8Malformed means the input is not a well-formed
// EncryptedPrivateKeyInfo (bad DER, wrong IV or key length, ciphertext not
// a whole number of blocks). No password will help.
var ErrPKCS8Malformed = errors.New("malformed encrypted PKCS#8 key")

// MaxPBKDF2Iterations caps the PBKDF2 iteration count DecryptPKCS8 will
// run, so that a hostile key file cannot stall start-up or reload for
// minutes per passphrase. OpenSSL 3 writes 2048; ten million is a few
// seconds of SHA-256 per passphrase.
const MaxPBKDF2Iterations = 10_000_000

var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}

	oidHMACWithSHA1       = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACWithSHA224     = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACWithSHA256     = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACWithSHA384     = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACWithSHA512     = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidHMACWithSHA512_224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 12}
	oidHMACWithSHA512_256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 13}

	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

// pkcs8OIDNames names the OIDs an operator may meet in a key file, so the
// error for an unsupported one says what it is (OpenSSL's short names).
var pkcs8OIDNames = map[string]string{
	"1.2.840.113549.1.5.1":      "pbeWithMD2AndDES-CBC (PBES1)",
	"1.2.840.113549.1.5.3":      "pbeWithMD5AndDES-CBC (PBES1)",
	"1.2.840.113549.1.5.4":      "pbeWithMD2AndRC2-CBC (PBES1)",
	"1.2.840.113549.1.5.6":      "pbeWithMD5AndRC2-CBC (PBES1)",
	"1.2.840.113549.1.5.10":     "pbeWithSHA1AndDES-CBC (PBES1)",
	"1.2.840.113549.1.5.11":     "pbeWithSHA1AndRC2-CBC (PBES1)",
	"1.2.840.113549.1.12.1.1":   "pbeWithSHA1And128BitRC4 (PKCS#12 PBE)",
	"1.2.840.113549.1.12.1.2":   "pbeWithSHA1And40BitRC4 (PKCS#12 PBE)",
	"1.2.840.113549.1.12.1.3":   "pbeWithSHA1And3-KeyTripleDES-CBC (PKCS#12 PBE)",
	"1.2.840.113549.1.12.1.4":   "pbeWithSHA1And2-KeyTripleDES-CBC (PKCS#12 PBE)",
	"1.2.840.113549.1.12.1.5":   "pbeWithSHA1And128BitRC2-CBC (PKCS#12 PBE)",
	"1.2.840.113549.1.12.1.6":   "pbeWithSHA1And40BitRC2-CBC (PKCS#12 PBE)",
	"1.3.6.1.4.1.11591.4.11":    "scrypt",
	"1.2.840.113549.2.5":        "hmacWithMD5",
	"1.3.14.3.2.7":              "des-cbc",
	"1.2.840.113549.3.2":        "rc2-cbc",
	"2.16.840.1.101.3.4.1.6":    "aes-128-gcm",
	"2.16.840.1.101.3.4.1.26":   "aes-192-gcm",
	"2.16.840.1.101.3.4.1.46":   "aes-256-gcm",
	"1.2.392.200011.61.1.1.1.2": "camellia-128-cbc",
	"1.2.392.200011.61.1.1.1.3": "camellia-192-cbc",
	"1.2.392.200011.61.1.1.1.4": "camellia-256-cbc",
	"1.2.643.7.1.1.4.2":         "hmacWithStreebog512",
	"1.2.156.10197.1.104.2":     "sm4-cbc",
	"1.3.101.111":               "X448",
	"1.3.101.113":               "ED448",
	"1.2.840.10040.4.1":         "DSA",
	"1.2.840.113549.1.3.1":      "DH",
	"1.2.840.10046.2.1":         "X9.42 DH",
	"1.2.840.113549.1.1.10":     "RSASSA-PSS",
	"1.2.156.10197.1.301":       "SM2",
}

// pkcs8Unsupported names what is not supported: its OpenSSL name where
// known, and always its OID.
func pkcs8Unsupported(what string, oid asn1.ObjectIdentifier) error {
	if name, ok := pkcs8OIDNames[oid.String()]; ok {
		return fmt.Errorf("%w: %s %s (%s)", ErrPKCS8Unsupported, what, name, oid)
	}
	return fmt.Errorf("%w: %s %s", ErrPKCS8Unsupported, what, oid)
}

func pkcs8Malformed(what string) error {
	return fmt.Errorf("%w: %s", ErrPKCS8Malformed, what)
}

// RFC 5958 §3.
type encryptedPrivateKeyInfo struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

// RFC 8018 A.4.
type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

// RFC 8018 A.2. The integers are big so that a count past int64 reads as
// "above the limit", not as bad DER, and so that an absent keyLength (nil)
// differs from a present one.
type pbkdf2Params struct {
	Salt   asn1.RawValue
	Iter   *big.Int
	KeyLen *big.Int                 `asn1:"optional"`
	PRF    pkix.AlgorithmIdentifier `asn1:"optional"` // DEFAULT hmacWithSHA1
}

// RFC 5958 §2, OneAsymmetricKey: the fields after privateKey (attributes,
// publicKey) are ignored, as crypto/x509 does.
type privateKeyInfo struct {
	Version int
	Algo    pkix.AlgorithmIdentifier
	Key     []byte
}

// DecryptPKCS8 decrypts the DER of an EncryptedPrivateKeyInfo (the bytes
// of a PEM block "ENCRYPTED PRIVATE KEY") with password, used as raw bytes
// as OpenSSL does for PBES2, and returns the DER of the PrivateKeyInfo,
// which x509.ParsePKCS8PrivateKey accepts. The error wraps
// ErrPKCS8WrongPassword (try the next passphrase), ErrPKCS8Unsupported or
// ErrPKCS8Malformed (no passphrase will do).
//
// It costs one PBKDF2 run per call, at most MaxPBKDF2Iterations; it has no
// state and is safe for concurrent use.
func DecryptPKCS8(der, password []byte) ([]byte, error) {
	return decryptPKCS8(der, password, MaxPBKDF2Iterations)
}

// decryptPKCS8 is DecryptPKCS8 with the iteration cap as a parameter, so
// the fuzz test can keep each run short.
func decryptPKCS8(der, password []byte, maxIter int64) ([]byte, error) {
	var epki encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &epki); err != nil {
		return nil, pkcs8Malformed(err.Error())
	} else if len(rest) > 0 {
		return nil, pkcs8Malformed("trailing data after the key")
	}
	if !epki.Algo.Algorithm.Equal(oidPBES2) {
		return nil, pkcs8Unsupported("encryption scheme", epki.Algo.Algorithm)
	}
	var p pbes2Params
	if err := unmarshalAll(epki.Algo.Parameters.FullBytes, &p); err != nil {
		return nil, pkcs8Malformed("PBES2 parameters: " + err.Error())
	}
	block, ivLen, keyLen, err := pkcs8Cipher(p.Enc.Algorithm)
	if err != nil {
		return nil, err
	}
	var iv []byte
	if err := unmarshalAll(p.Enc.Parameters.FullBytes, &iv); err != nil {
		return nil, pkcs8Malformed("cipher IV: " + err.Error())
	}
	if len(iv) != ivLen {
		return nil, pkcs8Malformed(fmt.Sprintf("IV of %d bytes, the cipher needs %d", len(iv), ivLen))
	}
	if len(epki.Data) == 0 || len(epki.Data)%ivLen != 0 {
		return nil, pkcs8Malformed(fmt.Sprintf("encrypted data of %d bytes is not a whole number of %d-byte blocks", len(epki.Data), ivLen))
	}
	key, err := pkcs8DeriveKey(p.KDF, password, keyLen, maxIter)
	if err != nil {
		return nil, err
	}
	c, err := block(key)
	if err != nil {
		return nil, pkcs8Malformed(err.Error()) // unreachable: keyLen matches the cipher
	}
	plain := make([]byte, len(epki.Data))
	cipher.NewCBCDecrypter(c, iv).CryptBlocks(plain, epki.Data)
	plain, ok := pkcs8Unpad(plain, ivLen)
	if !ok {
		return nil, ErrPKCS8WrongPassword
	}
	// A wrong password that happens to leave valid padding (about 1 in 256)
	// still leaves bytes that are not a PrivateKeyInfo.
	var pki privateKeyInfo
	if err := unmarshalAll(plain, &pki); err != nil {
		return nil, ErrPKCS8WrongPassword
	}
	// The password was right; what remains is whether Go can use the key.
	if _, err := x509.ParsePKCS8PrivateKey(plain); err != nil {
		return nil, pkcs8Unsupported("key algorithm", pki.Algo.Algorithm)
	}
	return plain, nil
}

// unmarshalAll is asn1.Unmarshal refusing trailing bytes.
func unmarshalAll(b []byte, v any) error {
	rest, err := asn1.Unmarshal(b, v)
	if err == nil && len(rest) > 0 {
		err = errors.New("trailing data")
	}
	return err
}

// pkcs8Cipher returns the block cipher constructor, block (= IV) size and
// key size of a PBES2 encryption scheme.
func pkcs8Cipher(oid asn1.ObjectIdentifier) (func([]byte) (cipher.Block, error), int, int, error) {
	switch {
	case oid.Equal(oidAES128CBC):
		return aes.NewCipher, aes.BlockSize, 16, nil
	case oid.Equal(oidAES192CBC):
		return aes.NewCipher, aes.BlockSize, 24, nil
	case oid.Equal(oidAES256CBC):
		return aes.NewCipher, aes.BlockSize, 32, nil
	case oid.Equal(oidDESEDE3CBC):
		return des.NewTripleDESCipher, des.BlockSize, 24, nil
	}
	return nil, 0, 0, pkcs8Unsupported("cipher", oid)
}

// pkcs8DeriveKey runs the key derivation function of PBES2, which must be
// PBKDF2 with a specified salt, a count within maxIter and, if it says
// one, the key length of the cipher.
func pkcs8DeriveKey(kdf pkix.AlgorithmIdentifier, password []byte, keyLen int, maxIter int64) ([]byte, error) {
	if !kdf.Algorithm.Equal(oidPBKDF2) {
		return nil, pkcs8Unsupported("key derivation function", kdf.Algorithm)
	}
	var p pbkdf2Params
	if err := unmarshalAll(kdf.Parameters.FullBytes, &p); err != nil {
		return nil, pkcs8Malformed("PBKDF2 parameters: " + err.Error())
	}
	if p.Salt.Class != asn1.ClassUniversal || p.Salt.Tag != asn1.TagOctetString || p.Salt.IsCompound {
		// The otherSource choice of RFC 8018 A.2: no known writer uses it.
		return nil, fmt.Errorf("%w: PBKDF2 salt that is not an OCTET STRING", ErrPKCS8Unsupported)
	}
	if p.Iter.Sign() <= 0 {
		return nil, pkcs8Malformed("PBKDF2 iteration count " + p.Iter.String())
	}
	if !p.Iter.IsInt64() || p.Iter.Int64() > maxIter {
		return nil, fmt.Errorf("%w: PBKDF2 iteration count %s is above mailproxy's limit of %d", ErrPKCS8Unsupported, p.Iter, maxIter)
	}
	if p.KeyLen != nil && (!p.KeyLen.IsInt64() || p.KeyLen.Int64() != int64(keyLen)) {
		return nil, pkcs8Malformed(fmt.Sprintf("PBKDF2 key length %s, the cipher needs %d", p.KeyLen, keyLen))
	}
	h, err := pkcs8PRF(p.PRF.Algorithm)
	if err != nil {
		return nil, err
	}
	key, err := pbkdf2.Key(h, string(password), p.Salt.Bytes, int(p.Iter.Int64()), keyLen)
	if err != nil {
		// Only in FIPS 140-3 mode, for a short salt or password.
		return nil, fmt.Errorf("%w: PBKDF2: %v", ErrPKCS8Unsupported, err)
	}
	return key, nil
}

// pkcs8PRF returns the hash of a PBKDF2 PRF; an absent PRF is the DEFAULT
// hmacWithSHA1.
func pkcs8PRF(oid asn1.ObjectIdentifier) (func() hash.Hash, error) {
	switch {
	case len(oid) == 0, oid.Equal(oidHMACWithSHA1):
		return sha1.New, nil
	case oid.Equal(oidHMACWithSHA224):
		return sha256.New224, nil
	case oid.Equal(oidHMACWithSHA256):
		return sha256.New, nil
	case oid.Equal(oidHMACWithSHA384):
		return sha512.New384, nil
	case oid.Equal(oidHMACWithSHA512):
		return sha512.New, nil
	case oid.Equal(oidHMACWithSHA512_224):
		return sha512.New512_224, nil
	case oid.Equal(oidHMACWithSHA512_256):
		return sha512.New512_256, nil
	}
	return nil, pkcs8Unsupported("PBKDF2 PRF", oid)
}

// pkcs8Unpad removes the padding of RFC 8018 §6.1.1 step 4 (1 to bs bytes,
// each the count); ok is false when it is not there.
func pkcs8Unpad(b []byte, bs int) ([]byte, bool) {
	n := int(b[len(b)-1])
	if n == 0 || n > bs || n > len(b) {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}

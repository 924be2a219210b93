package loop

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"mailproxy/codec"
)

// Client certificates, checked after the handshake as nginx does
// (reference §5): crypto/tls only requests the certificate, so that a
// failure can be answered with the protocol's cert-error line.

// tlsPeer is what the handshake learned about the client's certificate.
type tlsPeer struct {
	verify string // "" (ssl_verify_client off), SUCCESS, FAILED:reason, NONE
	leaf   *x509.Certificate
}

// tlsVerifyResult is the outcome of checking a client certificate.
type tlsVerifyResult uint8

const (
	tlsVerifyOK     tlsVerifyResult = iota
	tlsVerifyBad                    // "SSL certificate error"
	tlsVerifyNoCert                 // "No required SSL certificate"
)

// tlsCertError is the protocol's line for each failure (reference §3).
func tlsCertError(proto string, r tlsVerifyResult) []byte {
	text := "SSL certificate error"
	if r == tlsVerifyNoCert {
		text = "No required SSL certificate"
	}
	switch proto {
	case "pop3":
		return []byte("-ERR " + text + "\r\n")
	case "smtp":
		return []byte("421 4.7.1 " + text + "\r\n")
	}
	return []byte("* BYE " + text + "\r\n")
}

// check verifies the presented chain under ssl_verify_client.
func (t *tlsServer) check(chain []*x509.Certificate, now time.Time) (tlsPeer, tlsVerifyResult) {
	if t.verify == "off" || t.verify == "" {
		return tlsPeer{}, tlsVerifyOK
	}
	if len(chain) == 0 {
		if t.verify == "on" {
			return tlsPeer{verify: "NONE"}, tlsVerifyNoCert
		}
		return tlsPeer{verify: "NONE"}, tlsVerifyOK
	}
	p := tlsPeer{leaf: chain[0]}
	reason, optional := t.verifyChain(chain, now)
	if reason == "" {
		p.verify = "SUCCESS"
		return p, tlsVerifyOK
	}
	p.verify = "FAILED:" + reason
	if t.verify == "optional_no_ca" && optional {
		return p, tlsVerifyOK // the auth server decides (nginx)
	}
	return p, tlsVerifyBad
}

// verifyChain returns "" or OpenSSL's text for the failure, and whether
// optional_no_ca tolerates it (an untrusted issuer, as nginx's
// ngx_ssl_verify_error_optional).
func (t *tlsServer) verifyChain(chain []*x509.Certificate, now time.Time) (string, bool) {
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	roots := t.roots
	if roots == nil {
		roots = x509.NewCertPool()
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		var ua x509.UnknownAuthorityError
		var ci x509.CertificateInvalidError
		switch {
		case errors.As(err, &ua):
			last := chain[len(chain)-1]
			selfSigned := string(last.RawIssuer) == string(last.RawSubject) && last.CheckSignature(last.SignatureAlgorithm, last.RawTBSCertificate, last.Signature) == nil
			switch {
			case selfSigned && len(chain) == 1:
				return "self-signed certificate", true
			case selfSigned:
				return "self-signed certificate in certificate chain", true
			}
			return "unable to get local issuer certificate", true
		case errors.As(err, &ci):
			switch ci.Reason {
			case x509.Expired:
				if now.Before(ci.Cert.NotBefore) {
					return "certificate is not yet valid", false
				}
				return "certificate has expired", false
			case x509.IncompatibleUsage:
				return "unsupported certificate purpose", false
			case x509.TooManyIntermediates:
				return "certificate chain too long", false
			}
		}
		return "certificate verify failed: " + err.Error(), false
	}
	// ssl_verify_depth: the client certificate is depth 0, its issuer 1...
	var best []*x509.Certificate
	for _, c := range chains {
		if best == nil || len(c) < len(best) {
			best = c
		}
	}
	if len(best)-1 > t.depth {
		return "certificate chain too long", false
	}
	for i, c := range best[:len(best)-1] {
		if tlsRevoked(t.crls, c, best[i+1]) {
			return "certificate revoked", false
		}
	}
	return "", false
}

// tlsRevoked reports whether c is listed in a CRL signed by its issuer.
func tlsRevoked(crls []*x509.RevocationList, c, issuer *x509.Certificate) bool {
	for _, crl := range crls {
		if string(crl.RawIssuer) != string(c.RawIssuer) || crl.CheckSignatureFrom(issuer) != nil {
			continue
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				return true
			}
		}
	}
	return false
}

// tlsAuthFields fills the Auth-SSL* headers of an auth_http request the
// way nginx formats them (reference §2.2).
func (s *session) tlsAuthFields(r *codec.AuthRequest) {
	t := s.tls
	if t == nil || !t.ready {
		return
	}
	cs := t.tc.ConnectionState()
	r.SSL = true
	r.SSLProtocol = tlsVersionName(cs.Version)
	r.SSLCipher = tlsCipherName(cs.CipherSuite)
	r.SSLVerify = t.peer.verify
	leaf := t.peer.leaf
	if r.SSLVerify == "" || leaf == nil {
		return
	}
	r.SSLSubject = leaf.Subject.String()
	r.SSLIssuer = leaf.Issuer.String()
	r.SSLSerial = tlsSerial(leaf)
	sum := sha1.Sum(leaf.Raw)
	r.SSLFingerprint = hex.EncodeToString(sum[:])
	if s.srv.tls != nil && s.srv.tls.passCert {
		r.SSLCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	}
}

// tlsSerial is OpenSSL's i2a_ASN1_INTEGER: uppercase hex, whole bytes.
func tlsSerial(c *x509.Certificate) string {
	b := c.SerialNumber.Bytes()
	if len(b) == 0 {
		return "00"
	}
	s := fmt.Sprintf("%X", b)
	if c.SerialNumber.Sign() < 0 {
		return "-" + s
	}
	return s
}

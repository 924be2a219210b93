package mailtls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Client certificates, checked after the handshake as nginx does
// (reference §5): crypto/tls only requests the certificate, so that a
// failure can be answered with the protocol's cert-error line.

// Peer is what the handshake learned about the client's certificate.
type Peer struct {
	Verify string // "" (ssl_verify_client off), SUCCESS, FAILED:reason, NONE
	Leaf   *x509.Certificate
}

// VerifyResult is the outcome of checking a client certificate.
type VerifyResult uint8

const (
	VerifyOK     VerifyResult = iota
	VerifyBad                 // "SSL certificate error"
	VerifyNoCert              // "No required SSL certificate"
)

// Text is nginx's wording of a failure, which each protocol puts in its
// own closing line (reference §3).
func (r VerifyResult) Text() string {
	if r == VerifyNoCert {
		return "No required SSL certificate"
	}
	return "SSL certificate error"
}

// Check verifies the presented chain under ssl_verify_client.
func (t *Server) Check(chain []*x509.Certificate, now time.Time) (Peer, VerifyResult) {
	if t.verify == "off" || t.verify == "" {
		return Peer{}, VerifyOK
	}
	if len(chain) == 0 {
		if t.verify == "on" {
			return Peer{Verify: "NONE"}, VerifyNoCert
		}
		return Peer{Verify: "NONE"}, VerifyOK
	}
	p := Peer{Leaf: chain[0]}
	reason, optional := t.verifyChain(chain, now)
	if reason == "" {
		p.Verify = "SUCCESS"
		return p, VerifyOK
	}
	p.Verify = "FAILED:" + reason
	if t.verify == "optional_no_ca" && optional {
		return p, VerifyOK // the auth server decides (nginx)
	}
	return p, VerifyBad
}

// verifyChain returns "" or OpenSSL's text for the failure, and whether
// optional_no_ca tolerates it (an untrusted issuer, as nginx's
// ngx_ssl_verify_error_optional).
func (t *Server) verifyChain(chain []*x509.Certificate, now time.Time) (string, bool) {
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

// Serial is OpenSSL's i2a_ASN1_INTEGER: uppercase hex, whole bytes.
func Serial(c *x509.Certificate) string {
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

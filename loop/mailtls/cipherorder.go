package mailtls

import (
	"crypto/tls"
	"slices"
)

// Cipher suite order for TLS 1.2 and below. nginx (OpenSSL) picks the
// client's first acceptable suite, or with ssl_prefer_server_ciphers on
// (Options ServerPreference) the first of ssl_ciphers the client offers.
// Go's crypto/tls does neither: since Go 1.17 it walks its own fixed
// preference list (Config.cipherSuites: AES-GCM or ChaCha20 first by
// hardware), uses Config.CipherSuites only as a filter, and ignores
// PreferServerCipherSuites. It does honour a one-suite list, so
// GetConfigForClient makes the choice nginx would make and hands the
// handshake a copy of the Config that allows only that suite.
//
// The suite chosen is the first, in the order that applies, that the
// client offers, the version allows and one of the certificates can serve
// (ClientHelloInfo.SupportsCertificate: key type, curves, signature
// algorithms), so an ECDSA-only server never picks an RSA suite. Clients
// that will speak TLS 1.3 are left alone: Go does not let TLS 1.3 suites
// be chosen (ssl_conf_command Ciphersuites).
func tlsSuiteOrder(cfg *tls.Config, list []uint16, serverPref bool) {
	if serverPref && list == nil {
		return // server order over Go's defaults: Go's own order
	}
	cfg.GetConfigForClient = func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		if cfg.MaxVersion >= tls.VersionTLS13 && slices.Contains(chi.SupportedVersions, tls.VersionTLS13) {
			return nil, nil
		}
		id, ok := tlsPickSuite(cfg, chi, list, serverPref)
		if !ok {
			return nil, nil // let Go fail the handshake as it would
		}
		c := cfg.Clone()
		c.GetConfigForClient = nil
		c.CipherSuites = []uint16{id}
		return c, nil
	}
}

func tlsPickSuite(cfg *tls.Config, chi *tls.ClientHelloInfo, list []uint16, serverPref bool) (uint16, bool) {
	order := chi.CipherSuites
	if serverPref {
		order = list
	}
	for _, id := range order {
		if list != nil && !slices.Contains(list, id) || !slices.Contains(chi.CipherSuites, id) {
			continue
		}
		try := *chi
		try.CipherSuites = []uint16{id}
		for i := range cfg.Certificates {
			if try.SupportsCertificate(&cfg.Certificates[i]) == nil {
				return id, true
			}
		}
	}
	return 0, false
}

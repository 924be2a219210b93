package mailtls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"

	"mailproxy/config"
)

// tlsSettings is what the ssl_* directives choose, before ssl_conf_command
// overrides it and tls.Config is built from it.
type tlsSettings struct {
	certs, keys []string
	min, max    uint16
	ciphers     []uint16 // TLS 1.2 and below; nil = Go's defaults
	curves      []tls.CurveID
	tickets     bool
	serverPref  bool     // ssl_prefer_server_ciphers, Options ServerPreference
	suites13    []string // Ciphersuites, when given
	suites13Set bool
}

func tlsSettingsFrom(sc *config.Server) (*tlsSettings, error) {
	st := &tlsSettings{
		certs:      append([]string(nil), sc.SSLCertificates...),
		keys:       append([]string(nil), sc.SSLCertificateKeys...),
		tickets:    sc.SSLSessionTickets,
		serverPref: sc.SSLPreferServerCiphers,
	}
	var err error
	if st.min, st.max, err = tlsVersions(sc.SSLProtocols); err != nil {
		return nil, err
	}
	if st.ciphers, err = tlsCiphers(sc.SSLCiphers); err != nil {
		return nil, err
	}
	if st.curves, err = tlsCurves(sc.SSLECDHCurve); err != nil {
		return nil, err
	}
	return st, nil
}

// tlsGoSuites13 are the TLS 1.3 suites crypto/tls always enables.
var tlsGoSuites13 = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}

// tlsOpenSSLSuites13 are the TLS 1.3 names OpenSSL 3.0 knows.
var tlsOpenSSLSuites13 = map[string]bool{
	"TLS_AES_128_GCM_SHA256": true, "TLS_AES_256_GCM_SHA384": true, "TLS_CHACHA20_POLY1305_SHA256": true,
	"TLS_AES_128_CCM_SHA256": true, "TLS_AES_128_CCM_8_SHA256": true,
}

var tlsConfProtocols = map[string]uint16{
	"SSLv3": tls.VersionTLS10, "TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13,
}

// applyConfCommands applies ssl_conf_command in order, after the ssl_*
// directives, as nginx calls SSL_CONF_cmd at the end of its merge. The
// config parser has checked the names and the Options and protocol
// values. MinProtocol and MaxProtocol narrow what ssl_protocols enables
// (nginx disables the protocols not listed with SSL_OP_NO_*, which a
// wider MinProtocol/MaxProtocol does not undo).
func (st *tlsSettings) applyConfCommands(sc *config.Server) error {
	cur := len(st.certs) - 1 // the pair a PrivateKey command completes
	for _, c := range sc.SSLConfCommands {
		bad := func(reason string) error {
			return fmt.Errorf("%v in %s:%d", config.SSLConfCmdError(c.Name, c.Value, reason), sc.File, sc.Line)
		}
		switch c.Name {
		case "Certificate":
			kt, err := tlsCertKeyType(c.Value)
			if err != nil {
				return bad(err.Error())
			}
			cur = -1
			for i, f := range st.certs {
				if t, err := tlsCertKeyType(f); err == nil && t == kt {
					cur = i // OpenSSL keeps one certificate per key type
				}
			}
			if cur < 0 {
				st.certs, st.keys = append(st.certs, c.Value), append(st.keys, "")
				cur = len(st.certs) - 1
			}
			st.certs[cur] = c.Value
		case "PrivateKey":
			if cur < 0 {
				return bad("no certificate for the key")
			}
			for len(st.keys) <= cur {
				st.keys = append(st.keys, "")
			}
			st.keys[cur] = c.Value
		case "Options":
			for _, o := range strings.Split(c.Value, ",") {
				o = strings.TrimSpace(o)
				on := !strings.HasPrefix(o, "-")
				switch strings.ToLower(strings.TrimPrefix(o, "-")) {
				case "sessionticket":
					st.tickets = on
				case "serverpreference":
					st.serverPref = on
				}
			}
		case "MinProtocol":
			if v, ok := tlsConfProtocols[c.Value]; ok && v > st.min {
				st.min = v
			}
		case "MaxProtocol":
			if v, ok := tlsConfProtocols[c.Value]; ok && v < st.max {
				st.max = v
			}
		case "Groups", "Curves":
			curves, err := tlsCurves(c.Value)
			if err != nil {
				return bad("bad value: " + err.Error())
			}
			st.curves = curves
		case "CipherString":
			ciphers, err := tlsCiphers(c.Value)
			if err != nil {
				return bad("no cipher match: " + err.Error())
			}
			st.ciphers = ciphers
		case "Ciphersuites":
			st.suites13, st.suites13Set = nil, true
			for _, n := range strings.Split(c.Value, ":") {
				if tlsOpenSSLSuites13[n] {
					st.suites13 = append(st.suites13, n)
				}
			}
			if c.Value != "" && len(st.suites13) == 0 {
				return bad("error:0A0000B9:SSL routines::no cipher match")
			}
		}
	}
	for i, f := range st.certs {
		if i >= len(st.keys) || st.keys[i] == "" {
			return fmt.Errorf(`no "PrivateKey" is defined for certificate "%s" in %s:%d`, f, sc.File, sc.Line)
		}
	}
	if st.suites13Set {
		if err := st.checkSuites13(sc); err != nil {
			return err
		}
	}
	if st.min > st.max {
		return fmt.Errorf(`"ssl_protocols" and "ssl_conf_command" leave no protocol enabled in %s:%d`, sc.File, sc.Line)
	}
	return nil
}

// checkSuites13: Go enables its three TLS 1.3 suites whatever the config
// says. An empty Ciphersuites (OpenSSL: no TLS 1.3 suite, so no TLS 1.3)
// is honoured by turning TLS 1.3 off. A list that leaves out one of Go's
// three is refused while TLS 1.3 is on: operators list suites to restrict
// them, and accepting a restriction that is not applied would let a
// client negotiate a suite the operator ruled out. A list naming all
// three is accepted (the parser warned that order and choice are Go's).
func (st *tlsSettings) checkSuites13(sc *config.Server) error {
	if len(st.suites13) == 0 {
		if st.max > tls.VersionTLS12 {
			st.max = tls.VersionTLS12
		}
		return nil
	}
	if st.max < tls.VersionTLS13 {
		return nil
	}
	var missing []string
	for _, g := range tlsGoSuites13 {
		found := false
		for _, n := range st.suites13 {
			found = found || n == g
		}
		if !found {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf(`"ssl_conf_command Ciphersuites %s" cannot be honoured: Go's crypto/tls always enables %s for TLS 1.3; list all three, or turn TLS 1.3 off (ssl_protocols, MaxProtocol TLSv1.2, or an empty Ciphersuites "") in %s:%d`,
			strings.Join(st.suites13, ":"), strings.Join(missing, " and "), sc.File, sc.Line)
	}
	return nil
}

// tlsCertKeyType is the public key algorithm of the first certificate in
// a certificate file ("RSA", "ECDSA", "Ed25519").
func tlsCertKeyType(name string) (string, error) {
	b, err := tlsReadSource(name)
	if err != nil {
		return "", err
	}
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return "", fmt.Errorf(`no certificate in "%s"`, name)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return "", err
		}
		return c.PublicKeyAlgorithm.String(), nil
	}
}

package mailtls

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"mailproxy/config"
)

// The ssl_* directives mapped onto crypto/tls (README "TLS"):
//
//   - ssl_certificate / ssl_certificate_key: several pairs; crypto/tls picks
//     the first certificate whose names match the client's SNI and whose key
//     the client supports (RSA + ECDSA, or one set per domain: SNI
//     selection, which nginx's mail module lacks). "data:" values work;
//     "engine:" and "store:" keys are an error.
//   - ssl_password_file: passphrases tried in turn on encrypted keys,
//     PKCS#8 ("ENCRYPTED PRIVATE KEY", PBES2: see DecryptPKCS8) or
//     legacy PEM ("Proc-Type: 4,ENCRYPTED").
//   - ssl_protocols: lowest and highest version listed (TLSv1 .. TLSv1.3).
//   - ssl_ciphers: OpenSSL cipher names listed explicitly become the TLS 1.2
//     suite list; keyword strings ("HIGH:!aNULL:!MD5") keep Go's secure
//     defaults. TLS 1.3 suites are not configurable in Go.
//   - ssl_prefer_server_ciphers: the TLS 1.2 suite is the client's first
//     acceptable one, or with "on" the first of ssl_ciphers the client
//     offers, as OpenSSL chooses (cipherorder.go; Go alone would use its
//     own order).
//   - ssl_ecdh_curve: curve names (X25519, prime256v1, secp384r1, secp521r1,
//     X25519MLKEM768); "auto" keeps Go's defaults.
//   - ssl_session_tickets, ssl_session_ticket_key (48 or 80 byte files,
//     hashed to Go's 32-byte keys; the first encrypts, all decrypt),
//     ssl_session_timeout (checked when a ticket is redeemed).
//   - ssl_session_cache builtin/shared with tickets off: sessions kept in
//     a server-side store (sessioncache.go); off and none: no resumption.
//   - ssl_conf_command: applied after all of the above (confcommand.go).
//   - ssl_verify_client, ssl_client_certificate (CAs sent to the client and
//     trusted), ssl_trusted_certificate (trusted only), ssl_verify_depth,
//     ssl_crl: verified after the handshake as nginx does (tls_verify.go).
//   - ALPN: the server's protocol name only; a client offering others gets
//     no_application_protocol (nginx 1.21.4).

// Server is the TLS material of one listener, built at start and on
// every reload (a reload makes new servers, so new sessions use the new
// certificates while running ones keep theirs). Immutable; shared by the
// loops.
type Server struct {
	Config   *tls.Config // client side; nil when the server has no TLS
	Implicit bool        // listen ... ssl
	verify   string      // ssl_verify_client
	depth    int
	roots    *x509.CertPool // trusted for client certificates
	crls     []*x509.RevocationList
	PassCert bool // auth_http_pass_client_cert

	Backend *tls.Config // proxy_ssl / proxy_starttls; nil = plain
}

// serverUsesTLS reports whether clients of sc may speak TLS.
func serverUsesTLS(sc *config.Server) bool {
	if sc.Starttls != config.StarttlsOff {
		return true
	}
	for _, l := range sc.Listens {
		if l.SSL {
			return true
		}
	}
	return false
}

// NewServer builds the TLS material of server sc for its listen l: the
// client-side config when clients may speak TLS (listen ... ssl or
// starttls), the backend config with proxy_ssl or proxy_starttls. It is
// nil, nil when sc uses no TLS at all. Every file is read here, so an
// error is what a start would report.
func NewServer(sc *config.Server, l config.Listen) (*Server, error) {
	t := &Server{Implicit: l.SSL, verify: sc.SSLVerifyClient, depth: sc.SSLVerifyDepth,
		PassCert: sc.AuthHTTPPassClientCert}
	if serverUsesTLS(sc) {
		cfg, err := tlsServerConfig(sc, t)
		if err != nil {
			return nil, err
		}
		t.Config = cfg
	}
	if sc.ProxySSL || sc.ProxyStarttls {
		cfg, err := tlsBackendConfig(sc)
		if err != nil {
			return nil, err
		}
		t.Backend = cfg
	}
	if t.Config == nil && t.Backend == nil {
		return nil, nil
	}
	return t, nil
}

func tlsServerConfig(sc *config.Server, t *Server) (*tls.Config, error) {
	set, err := tlsSettingsFrom(sc)
	if err != nil {
		return nil, err
	}
	if err := set.applyConfCommands(sc); err != nil {
		return nil, err
	}
	certs, err := tlsLoadPairs(set.certs, set.keys, sc.SSLPasswordFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		Certificates:     certs,
		NextProtos:       []string{sc.Protocol.String()},
		MinVersion:       set.min,
		MaxVersion:       set.max,
		CipherSuites:     set.ciphers,
		CurvePreferences: set.curves,
	}
	if len(sc.SSLSessionTicketKeys) > 0 {
		var keys [][32]byte
		for _, f := range sc.SSLSessionTicketKeys {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf(`cannot load ssl_session_ticket_key "%s": %v`, f, err)
			}
			if len(b) != 48 && len(b) != 80 {
				return nil, fmt.Errorf(`"%s" ssl_session_ticket_key file must be 48 or 80 bytes`, f)
			}
			keys = append(keys, sha256.Sum256(b))
		}
		cfg.SetSessionTicketKeys(keys)
	}
	if set.tickets {
		if sc.SSLSessionTimeout > 0 {
			tlsSessionTimeout(cfg, sc.SSLSessionTimeout)
		}
	} else if store := sessionStoreFor(sc); store != nil {
		tlsSessionStore(cfg, store, sessionOwner(cfg, sc), sc.SSLSessionTimeout)
	} else {
		cfg.SessionTicketsDisabled = true // off, none: no resumption, as nginx
	}
	if set.min <= tls.VersionTLS12 {
		tlsSuiteOrder(cfg, set.ciphers, set.serverPref)
	}
	if sc.SSLVerifyClient != "off" {
		cfg.ClientAuth = tls.RequestClientCert // verified after the handshake, as nginx
		if sc.SSLVerifyClient != "optional_no_ca" && sc.SSLClientCertificate == "" && sc.SSLTrustedCertificate == "" {
			return nil, fmt.Errorf(`no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client in %s:%d`, sc.File, sc.Line)
		}
		t.roots = x509.NewCertPool()
		if sc.SSLClientCertificate != "" {
			sent, err := tlsLoadPool(sc.SSLClientCertificate, "ssl_client_certificate")
			if err != nil {
				return nil, err
			}
			cfg.ClientCAs = sent
			if err := tlsAppendPEM(t.roots, sc.SSLClientCertificate); err != nil {
				return nil, err
			}
		}
		if sc.SSLTrustedCertificate != "" {
			if err := tlsAppendPEM(t.roots, sc.SSLTrustedCertificate); err != nil {
				return nil, err
			}
		}
		if sc.SSLCRL != "" {
			if t.crls, err = tlsLoadCRLs(sc.SSLCRL); err != nil {
				return nil, err
			}
		}
	}
	return cfg, nil
}

// tlsBackendConfig is the client config used towards backends. The server
// name is set per session (proxy_ssl_name or the Auth-Server address).
func tlsBackendConfig(sc *config.Server) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: sc.ProxySSLNoVerify}
	if f := sc.ProxySSLTrustedCertificate; f != "" {
		pool, err := tlsLoadPool(f, "proxy_ssl_trusted_certificate")
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if sc.ProxySSLCertificate != "" {
		certs, err := tlsLoadPairs([]string{sc.ProxySSLCertificate}, []string{sc.ProxySSLCertificateKey}, sc.SSLPasswordFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = certs
	}
	return cfg, nil
}

// tlsSessionTimeout makes tickets expire after d: the issue time rides in
// the ticket (SessionState.Extra) and is checked when it is redeemed.
func tlsSessionTimeout(cfg *tls.Config, d time.Duration) {
	const tag = "mailproxy-ts"
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		found := false
		for _, e := range ss.Extra {
			if bytes.HasPrefix(e, []byte(tag)) {
				found = true
			}
		}
		if !found {
			ss.Extra = append(ss.Extra, binary.BigEndian.AppendUint64([]byte(tag), uint64(time.Now().Unix())))
		}
		return cfg.EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := cfg.DecryptTicket(identity, cs)
		if err != nil || ss == nil {
			return nil, nil // full handshake
		}
		for _, e := range ss.Extra {
			if len(e) == len(tag)+8 && bytes.HasPrefix(e, []byte(tag)) {
				issued := time.Unix(int64(binary.BigEndian.Uint64(e[len(tag):])), 0)
				if time.Since(issued) <= d {
					return ss, nil
				}
			}
		}
		return nil, nil
	}
}

// tlsReadSource reads a certificate or key: a file, or "data:" inline PEM.
func tlsReadSource(name string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(name, "data:"); ok {
		return []byte(rest), nil
	}
	if strings.HasPrefix(name, "engine:") || strings.HasPrefix(name, "store:") {
		return nil, errors.New("OpenSSL engines and stores are not supported by mailproxy (Go's crypto/tls)")
	}
	return os.ReadFile(name)
}

// tlsLoadPairs loads certificate/key pairs in order.
func tlsLoadPairs(certs, keys []string, passFile string) ([]tls.Certificate, error) {
	var passwords [][]byte
	if passFile != "" {
		b, err := os.ReadFile(passFile)
		if err != nil {
			return nil, fmt.Errorf(`cannot open "%s" ssl_password_file: %v`, passFile, err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			line = bytes.TrimRight(line, "\r")
			if len(line) > 0 {
				passwords = append(passwords, line)
			}
		}
	}
	var out []tls.Certificate
	for i, cf := range certs {
		if i >= len(keys) {
			return nil, fmt.Errorf(`no "ssl_certificate_key" is defined for certificate "%s"`, cf)
		}
		cb, err := tlsReadSource(cf)
		if err != nil {
			return nil, fmt.Errorf(`cannot load certificate "%s": %v`, cf, err)
		}
		kb, err := tlsReadSource(keys[i])
		if err != nil {
			return nil, fmt.Errorf(`cannot load certificate key "%s": %v`, keys[i], err)
		}
		kb, err = tlsDecryptKey(kb, passwords)
		if err != nil {
			return nil, fmt.Errorf(`cannot load certificate key "%s": %v`, keys[i], err)
		}
		pair, err := tls.X509KeyPair(cb, kb)
		if err != nil {
			return nil, fmt.Errorf(`cannot load certificate "%s" with key "%s": %v`, cf, keys[i], err)
		}
		out = append(out, pair)
	}
	return out, nil
}

// The [emerg] texts nginx 1.22 prints with OpenSSL 3.0 when a key cannot
// be decrypted, kept word for word for operators and tools that look for
// them: for an encrypted PKCS#8 key, no passphrase (no ssl_password_file,
// and no terminal to ask on) or none right (OpenSSL's error queue then
// holds the same entries twice, whatever the number of passphrases); the
// same two for a legacy "Proc-Type: 4,ENCRYPTED" key.
const (
	tlsKeyNoPasswordPKCS8  = "PEM_read_bio_PrivateKey() failed (SSL: error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:07880109:common libcrypto routines::interrupted or cancelled error:1C80009F:Provider routines::unable to get passphrase error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:04800068:PEM routines::bad password read)"
	tlsKeyBadPKCS8         = "PEM_read_bio_PrivateKey() failed (SSL: error:1C800064:Provider routines::bad decrypt error:11800074:PKCS12 routines::pkcs12 cipherfinal error:maybe wrong password error:1C800064:Provider routines::bad decrypt error:11800074:PKCS12 routines::pkcs12 cipherfinal error:maybe wrong password)"
	tlsKeyNoPasswordLegacy = "PEM_read_bio_PrivateKey() failed (SSL: error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:07880109:common libcrypto routines::interrupted or cancelled error:04800068:PEM routines::bad password read)"
	tlsKeyBadLegacy        = "PEM_read_bio_PrivateKey() failed (SSL: error:1C800064:Provider routines::bad decrypt error:04800065:PEM routines::bad decrypt)"
)

// tlsDecryptKey decrypts the encrypted PEM blocks of a key file, encrypted
// PKCS#8 ("ENCRYPTED PRIVATE KEY") or legacy ("Proc-Type: 4,ENCRYPTED"),
// with the first of passwords that works, in file order as nginx tries
// them; other blocks are returned as they are.
func tlsDecryptKey(kb []byte, passwords [][]byte) ([]byte, error) {
	var out []byte
	rest := kb
	for {
		block, r := pem.Decode(rest)
		if block == nil {
			break
		}
		rest = r
		pkcs8 := block.Type == "ENCRYPTED PRIVATE KEY"
		//lint:ignore SA1019 legacy PEM encryption is what ssl_password_file protects
		if !pkcs8 && !x509.IsEncryptedPEMBlock(block) {
			out = append(out, pem.EncodeToMemory(block)...)
			continue
		}
		var plain *pem.Block
		var err error
		switch {
		case len(passwords) == 0 && pkcs8:
			err = errors.New(tlsKeyNoPasswordPKCS8)
		case len(passwords) == 0:
			err = errors.New(tlsKeyNoPasswordLegacy)
		case pkcs8:
			plain, err = tlsDecryptPKCS8(block, passwords)
		default:
			plain, err = tlsDecryptLegacy(block, passwords)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, pem.EncodeToMemory(plain)...)
	}
	if out == nil {
		return kb, nil
	}
	return out, nil
}

// tlsDecryptPKCS8 tries each password on an encrypted PKCS#8 block. A key
// no password can open (unsupported scheme, malformed) says why at once.
func tlsDecryptPKCS8(block *pem.Block, passwords [][]byte) (*pem.Block, error) {
	for _, p := range passwords {
		der, err := DecryptPKCS8(block.Bytes, p)
		if err == nil {
			return &pem.Block{Type: "PRIVATE KEY", Bytes: der}, nil
		}
		if !errors.Is(err, ErrPKCS8WrongPassword) {
			return nil, err
		}
	}
	return nil, errors.New(tlsKeyBadPKCS8)
}

// tlsDecryptLegacy tries each password on a legacy encrypted PEM block.
// DecryptPEMBlock checks only the padding, which a wrong password passes
// about once in 256 tries, so the result must also parse as the key the
// block names, or the next password is tried.
func tlsDecryptLegacy(block *pem.Block, passwords [][]byte) (*pem.Block, error) {
	for _, p := range passwords {
		//lint:ignore SA1019 see tlsDecryptKey
		der, err := x509.DecryptPEMBlock(block, p)
		if err != nil {
			continue
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			_, err = x509.ParsePKCS1PrivateKey(der)
		case "EC PRIVATE KEY":
			_, err = x509.ParseECPrivateKey(der)
		}
		if err == nil {
			return &pem.Block{Type: block.Type, Bytes: der}, nil
		}
	}
	return nil, errors.New(tlsKeyBadLegacy)
}

func tlsLoadPool(name, directive string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if err := tlsAppendPEM(pool, name); err != nil {
		return nil, fmt.Errorf("%v (%s)", err, directive)
	}
	return pool, nil
}

func tlsAppendPEM(pool *x509.CertPool, name string) error {
	b, err := tlsReadSource(name)
	if err != nil {
		return fmt.Errorf(`cannot load "%s": %v`, name, err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf(`no certificates in "%s"`, name)
	}
	return nil
}

func tlsLoadCRLs(name string) ([]*x509.RevocationList, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf(`cannot load ssl_crl "%s": %v`, name, err)
	}
	var out []*x509.RevocationList
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "X509 CRL" {
			continue
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf(`cannot load ssl_crl "%s": %v`, name, err)
		}
		out = append(out, crl)
	}
	if len(out) == 0 {
		crl, err := x509.ParseRevocationList(b) // DER
		if err != nil {
			return nil, fmt.Errorf(`no CRL in ssl_crl "%s"`, name)
		}
		out = append(out, crl)
	}
	return out, nil
}

var tlsVersionNames = map[string]uint16{
	"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11,
	"TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13,
}

func tlsVersions(names []string) (lo, hi uint16, err error) {
	for _, n := range names {
		v, ok := tlsVersionNames[n]
		if !ok {
			continue // SSLv2/SSLv3: warned about by the config parser
		}
		if lo == 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	if lo == 0 {
		return 0, 0, errors.New(`"ssl_protocols" enables no protocol Go's crypto/tls supports`)
	}
	return lo, hi, nil
}

// tlsOpenSSLNames maps OpenSSL cipher names to Go's suites (TLS 1.2 and
// below) and back, for ssl_ciphers and Auth-SSL-Cipher.
var tlsOpenSSLNames = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
}

var tlsSuiteOpenSSL = func() map[uint16]string {
	m := make(map[uint16]string, len(tlsOpenSSLNames))
	for n, id := range tlsOpenSSLNames {
		m[id] = n
	}
	return m
}()

// CipherName is the OpenSSL name nginx reports in Auth-SSL-Cipher.
func CipherName(id uint16) string {
	if n, ok := tlsSuiteOpenSSL[id]; ok {
		return n
	}
	return tls.CipherSuiteName(id) // TLS 1.3 names are the same in both
}

// tlsCiphers reads an OpenSSL cipher string: explicitly named suites, in
// order, minus those excluded with ! or -; nil (Go's defaults) when it
// names none.
func tlsCiphers(s string) ([]uint16, error) {
	var out []uint16
	excluded := map[uint16]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		neg := strings.HasPrefix(f, "!") || strings.HasPrefix(f, "-")
		name := strings.TrimLeft(f, "!-+")
		id, ok := tlsOpenSSLNames[name]
		if !ok {
			continue // a keyword (HIGH, aNULL, ...) or a suite Go lacks
		}
		if neg {
			excluded[id] = true
			continue
		}
		out = append(out, id)
	}
	kept := out[:0]
	for _, id := range out {
		if !excluded[id] {
			kept = append(kept, id)
		}
	}
	if len(out) > 0 && len(kept) == 0 {
		return nil, fmt.Errorf(`"ssl_ciphers" "%s" leaves no cipher suite`, s)
	}
	if len(kept) == 0 {
		return nil, nil
	}
	return kept, nil
}

var tlsCurveNames = map[string]tls.CurveID{
	"x25519": tls.X25519, "prime256v1": tls.CurveP256, "secp256r1": tls.CurveP256, "p-256": tls.CurveP256,
	"secp384r1": tls.CurveP384, "p-384": tls.CurveP384, "secp521r1": tls.CurveP521, "p-521": tls.CurveP521,
	"x25519mlkem768": tls.X25519MLKEM768,
}

func tlsCurves(s string) ([]tls.CurveID, error) {
	if s == "" || strings.EqualFold(s, "auto") {
		return nil, nil
	}
	var out []tls.CurveID
	for _, n := range strings.Split(s, ":") {
		id, ok := tlsCurveNames[strings.ToLower(n)]
		if !ok {
			return nil, fmt.Errorf(`unknown curve "%s" in "ssl_ecdh_curve %s"`, n, s)
		}
		out = append(out, id)
	}
	return out, nil
}

// VersionName is the OpenSSL protocol name nginx reports.
func VersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}

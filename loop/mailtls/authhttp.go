package mailtls

import (
	"crypto/tls"

	"mailproxy/config"
)

// AuthHTTPConfig is the client config for https:// auth_http servers
// (extension): the certificate is verified against
// auth_http_ssl_trusted_certificate, or the system roots when it is not
// set, for the URL's host (loop/authhttp sets ServerName); an
// auth_http_ssl_certificate is shown when the server asks. nil, nil when
// no auth_http URL of sc is https://.
func AuthHTTPConfig(sc *config.Server) (*tls.Config, error) {
	any := false
	for _, u := range sc.AuthHTTPServers {
		any = any || u.TLS
	}
	if !any {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f := sc.AuthHTTPSSLTrustedCertificate; f != "" {
		pool, err := tlsLoadPool(f, "auth_http_ssl_trusted_certificate")
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if sc.AuthHTTPSSLCertificate != "" {
		certs, err := tlsLoadPairs([]string{sc.AuthHTTPSSLCertificate}, []string{sc.AuthHTTPSSLCertificateKey}, sc.SSLPasswordFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = certs
	}
	return cfg, nil
}

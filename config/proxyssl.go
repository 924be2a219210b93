package config

// TLS towards backends: a mailproxy extension (nginx's mail proxy speaks
// only plain TCP to backends, reference §5). Directives, all in mail{} and
// server{} and inherited like nginx's:
//
//	proxy_ssl on|off;                      implicit TLS to the backend
//	proxy_starttls on|off;                 STARTTLS / STLS to the backend
//	proxy_ssl_trusted_certificate file;    CAs for the backend's certificate (default: system roots)
//	proxy_ssl_verify on|off;               verify chain and name (default on)
//	proxy_ssl_name name;                   SNI and verified name (default: the Auth-Server address)
//	proxy_ssl_certificate file;            client certificate shown to the backend
//	proxy_ssl_certificate_key file;

func setProxySSLVerify(p *parser, d *node) error {
	v, ok := valFlag(d.args[0])
	if !ok {
		return flagErr(d)
	}
	p.cur().s.ProxySSLNoVerify = !v
	return nil
}

// proxySSLCheck runs after inheritance, with the other ssl checks.
func proxySSLCheck(st *srvState) error {
	s := &st.s
	if s.ProxySSL && s.ProxyStarttls {
		return errorf(`"proxy_ssl" and "proxy_starttls" cannot both be on for server in %s:%d`, s.File, s.Line)
	}
	if (s.ProxySSLCertificate == "") != (s.ProxySSLCertificateKey == "") {
		return errorf(`"proxy_ssl_certificate" and "proxy_ssl_certificate_key" go together for server in %s:%d`, s.File, s.Line)
	}
	return nil
}

func init() {
	tableAdd("mailproxy",
		slotFlag("proxy_ssl", func(s *Server) *bool { return &s.ProxySSL }),
		slotFlag("proxy_starttls", func(s *Server) *bool { return &s.ProxyStarttls }),
		slotPath("proxy_ssl_trusted_certificate", func(s *Server) *string { return &s.ProxySSLTrustedCertificate }),
		&directive{name: "proxy_ssl_verify", ctx: ctxMailServer, args: argFlag, set: setProxySSLVerify},
		slotStr("proxy_ssl_name", func(s *Server) *string { return &s.ProxySSLName }),
		slotPath("proxy_ssl_certificate", func(s *Server) *string { return &s.ProxySSLCertificate }),
		slotPath("proxy_ssl_certificate_key", func(s *Server) *string { return &s.ProxySSLCertificateKey }),
	)
}

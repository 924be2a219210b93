package config

import (
	"strings"
	"time"
)

// ngx_mail_ssl_module directives. The certificates and keys themselves
// are loaded by the engine (loop/mailtls), at start and by -t (loop.Check),
// so that -t reports what a start would. What Go's crypto/tls cannot do
// is a warning when ignoring it is safe (ssl_dhparam,
// ssl_certificate_compression, SSLv2/SSLv3 in ssl_protocols) and an error
// when it is not (engine: and store: keys, reported when the keys are
// loaded). ssl_conf_command: confcommand.go.

func setStarttls(p *parser, d *node) error {
	st := p.cur()
	switch d.args[0] {
	case "off":
		st.s.Starttls = StarttlsOff
		return nil
	case "on":
		st.s.Starttls = StarttlsOn
	case "only":
		st.s.Starttls = StarttlsOnly
	default:
		return d.nodeErr(`invalid value "%s"`, d.args[0])
	}
	st.sslFile, st.sslLine = d.file, d.line
	return nil
}

var sslProtocolNames = map[string]bool{"SSLv2": true, "SSLv3": true, "TLSv1": true, "TLSv1.1": true, "TLSv1.2": true, "TLSv1.3": true}

func setSSLProtocols(p *parser, d *node) error {
	s := &p.cur().s
	if p.first(d) {
		s.SSLProtocols = nil
	}
	for _, a := range d.args {
		name := ""
		for n := range sslProtocolNames {
			if strings.EqualFold(n, a) {
				name = n
			}
		}
		if name == "" {
			return d.nodeErr(`invalid value "%s"`, a)
		}
		if name == "SSLv2" || name == "SSLv3" {
			p.notice("warn", d, `"%s" in "ssl_protocols" is ignored: Go's crypto/tls has no SSL 2 or 3`, a)
		}
		s.SSLProtocols = append(s.SSLProtocols, name)
	}
	return nil
}

// setSSLIgnoredFlag is a flag Go's crypto/tls cannot honour: "on" is a
// warning, the value is kept for -T.
func setSSLIgnoredFlag(why string, field func(*Server) *bool) func(p *parser, d *node) error {
	return func(p *parser, d *node) error {
		v, ok := valFlag(d.args[0])
		if !ok {
			return flagErr(d)
		}
		if v {
			p.notice("warn", d, `"%s" is ignored: %s`, d.name, why)
		}
		*field(&p.cur().s) = v
		return nil
	}
}

func setSSLDHParam(p *parser, d *node) error {
	p.notice("warn", d, `"ssl_dhparam" is ignored: Go's crypto/tls has no finite-field DHE cipher suites`)
	p.cur().s.SSLDHParam = p.path(d.args[0])
	return nil
}

func setSSLVerifyClient(p *parser, d *node) error {
	switch d.args[0] {
	case "off", "on", "optional", "optional_no_ca":
		p.cur().s.SSLVerifyClient = d.args[0]
		return nil
	}
	return d.nodeErr(`invalid value "%s"`, d.args[0])
}

// sslBuiltinCacheDefault is nginx's size for a bare "builtin"
// (NGX_SSL_DFLT_BUILTIN_SCACHE), in sessions.
const sslBuiltinCacheDefault = 20480

// setSSLSessionCache: off | none | builtin[:size] | shared:name:size, the
// last two together if wanted (ngx_mail_ssl_session_cache). Several
// servers naming one shared zone share it, and must agree on its size.
func setSSLSessionCache(p *parser, d *node) error {
	s := &p.cur().s
	s.SSLSessionCacheBuiltin, s.SSLSessionCacheZone, s.SSLSessionCacheZoneSize = 0, "", 0
	for _, a := range d.args {
		ok := a == "off" || a == "none"
		if a == "builtin" {
			ok, s.SSLSessionCacheBuiltin = true, sslBuiltinCacheDefault
		}
		if v, found := strings.CutPrefix(a, "builtin:"); found {
			s.SSLSessionCacheBuiltin, ok = valAtoi(v)
		}
		if v, found := strings.CutPrefix(a, "shared:"); found {
			name, size, _ := strings.Cut(v, ":")
			n, okSize := valSize(size)
			ok = name != "" && okSize
			if ok && n < 8*4096 {
				return d.nodeErr(`session cache "%s" is too small`, a)
			}
			if ok {
				if p.sslZones == nil {
					p.sslZones = map[string]int{}
				}
				if old, seen := p.sslZones[name]; seen && old != n {
					return d.nodeErr(`the size %d of shared memory zone "%s" conflicts with already declared size %d`, n, name, old)
				}
				p.sslZones[name] = n
				s.SSLSessionCacheZone, s.SSLSessionCacheZoneSize = name, n
			}
		}
		if !ok || (len(d.args) > 1 && (a == "off" || a == "none")) {
			return d.nodeErr(`invalid session cache "%s"`, a)
		}
	}
	s.SSLSessionCache = strings.Join(d.args, " ")
	return nil
}

// sslCheck is the end of ngx_mail_ssl_merge_conf: TLS needs a certificate
// and a key per certificate.
func sslCheck(st *srvState) error {
	mode := ""
	switch {
	case st.listenSSL:
		mode = "listen ... ssl"
	case st.s.Starttls != StarttlsOff:
		mode = "starttls"
	default:
		return proxySSLCheck(st)
	}
	if len(st.s.SSLCertificates) == 0 {
		return errorf(`no "ssl_certificate" is defined for the "%s" directive in %s:%d`, mode, st.sslFile, st.sslLine)
	}
	if len(st.s.SSLCertificateKeys) < len(st.s.SSLCertificates) {
		return errorf(`no "ssl_certificate_key" is defined for certificate "%s" and the "%s" directive in %s:%d`,
			st.s.SSLCertificates[len(st.s.SSLCertificateKeys)], mode, st.sslFile, st.sslLine)
	}
	return proxySSLCheck(st)
}

func init() {
	tableAdd("mail_ssl",
		&directive{name: "starttls", ctx: ctxMailServer, args: take1, set: setStarttls},
		slotList("ssl_certificate", take1, true, func(s *Server) *[]string { return &s.SSLCertificates }),
		slotList("ssl_certificate_key", take1, true, func(s *Server) *[]string { return &s.SSLCertificateKeys }),
		&directive{name: "ssl_certificate_compression", ctx: ctxMailServer, args: argFlag,
			set: setSSLIgnoredFlag("Go's crypto/tls does not compress certificates", func(s *Server) *bool { return &s.SSLCertificateCompression })},
		slotPath("ssl_password_file", func(s *Server) *string { return &s.SSLPasswordFile }),
		&directive{name: "ssl_dhparam", ctx: ctxMailServer, args: take1, set: setSSLDHParam},
		slotStr("ssl_ecdh_curve", func(s *Server) *string { return &s.SSLECDHCurve }),
		&directive{name: "ssl_protocols", ctx: ctxMailServer, args: arg1More, multi: true, set: setSSLProtocols},
		slotStr("ssl_ciphers", func(s *Server) *string { return &s.SSLCiphers }),
		slotFlag("ssl_prefer_server_ciphers", func(s *Server) *bool { return &s.SSLPreferServerCiphers }),
		&directive{name: "ssl_session_cache", ctx: ctxMailServer, args: take12, multi: true, set: setSSLSessionCache},
		slotFlag("ssl_session_tickets", func(s *Server) *bool { return &s.SSLSessionTickets }),
		slotList("ssl_session_ticket_key", take1, true, func(s *Server) *[]string { return &s.SSLSessionTicketKeys }),
		slotSec("ssl_session_timeout", func(s *Server) *time.Duration { return &s.SSLSessionTimeout }),
		&directive{name: "ssl_verify_client", ctx: ctxMailServer, args: take1, set: setSSLVerifyClient},
		slotNum("ssl_verify_depth", func(s *Server) *int { return &s.SSLVerifyDepth }),
		slotPath("ssl_client_certificate", func(s *Server) *string { return &s.SSLClientCertificate }),
		slotPath("ssl_trusted_certificate", func(s *Server) *string { return &s.SSLTrustedCertificate }),
		slotPath("ssl_crl", func(s *Server) *string { return &s.SSLCRL }),
		&directive{name: "ssl_conf_command", ctx: ctxMailServer, args: take2, multi: true, set: setSSLConfCommand},
	)
}

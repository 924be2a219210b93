package config

import (
	"net/netip"
	"strings"
	"time"
)

// The mail core, proxy, imap, pop3, smtp and realip directive tables
// (auth_http is in authhttp.go, listen in listen.go, ssl in ssl.go).

func setProtocol(p *parser, d *node) error {
	for _, pr := range []Protocol{IMAP, POP3, SMTP} {
		if d.args[0] == pr.String() {
			p.cur().s.Protocol = pr
			return nil
		}
	}
	return d.nodeErr(`unknown protocol "%s"`, d.args[0])
}

// setProxyProtocol: on | off | v2; off is always fine.
func setProxyProtocol(p *parser, d *node) error {
	var v ProxyProtocolOut
	switch {
	case strings.EqualFold(d.args[0], "off"):
		v = ProxyProtocolOff
	case strings.EqualFold(d.args[0], "on"):
		v = ProxyProtocolV1
	case d.args[0] == "v2":
		v = ProxyProtocolV2
	default:
		return flagErr(d)
	}
	p.cur().s.ProxyProtocolOut = v
	return nil
}

// setRealIPFrom: address, CIDR, "unix:" or a host name resolved now into
// /32 and /128 entries.
func setRealIPFrom(p *parser, d *node) error {
	s := &p.cur().s
	if p.first(d) {
		s.SetRealIPFrom = nil
	}
	v := d.args[0]
	if v == "unix:" {
		s.SetRealIPFrom = append(s.SetRealIPFrom, v)
		return nil
	}
	if pf, err := netip.ParsePrefix(v); err == nil {
		if pf.Masked() != pf {
			p.notice("warn", d, `low address bits of %s are meaningless`, v)
		}
		s.SetRealIPFrom = append(s.SetRealIPFrom, pf.Masked().String())
		return nil
	}
	if a, err := netip.ParseAddr(v); err == nil {
		s.SetRealIPFrom = append(s.SetRealIPFrom, netip.PrefixFrom(a, a.BitLen()).String())
		return nil
	}
	addrs, err := p.lookup(v)
	if err != nil || len(addrs) == 0 {
		return d.nodeErr(`host not found in set_real_ip_from "%s"`, v)
	}
	for _, h := range addrs {
		if a, err := netip.ParseAddr(h); err == nil {
			s.SetRealIPFrom = append(s.SetRealIPFrom, netip.PrefixFrom(a, a.BitLen()).String())
		}
	}
	return nil
}

var (
	imapAuthMethods = map[string]AuthMethods{"plain": AuthPlain, "login": AuthLogin, "cram-md5": AuthCramMD5, "external": AuthExternal,
		"oauthbearer": AuthOAuthBearer, "xoauth2": AuthXOAuth2}
	pop3AuthMethods = map[string]AuthMethods{"plain": AuthPlain, "apop": AuthAPOP, "cram-md5": AuthCramMD5, "external": AuthExternal,
		"oauthbearer": AuthOAuthBearer, "xoauth2": AuthXOAuth2}
	smtpAuthMethods = map[string]AuthMethods{"plain": AuthPlain, "login": AuthLogin, "cram-md5": AuthCramMD5, "external": AuthExternal, "none": AuthNone,
		"oauthbearer": AuthOAuthBearer, "xoauth2": AuthXOAuth2}
)

func init() {
	tableAdd("mail_core",
		&directive{name: "protocol", ctx: ctxServer, args: take1, multi: true, set: setProtocol},
		slotStr("server_name", func(s *Server) *string { return &s.ServerName }),
		slotMsec("timeout", func(s *Server) *time.Duration { return &s.Timeout }),
		&directive{name: "resolver", ctx: ctxMailServer, args: arg1More, set: setResolver},
		slotMsec("resolver_timeout", func(s *Server) *time.Duration { return &s.ResolverTimeout }),
		slotNum("max_errors", func(s *Server) *int { return &s.MaxErrors }),
	)
	tableAdd("mail_proxy",
		slotFlag("proxy", func(s *Server) *bool { return &s.Proxy }),
		slotSize("proxy_buffer", func(s *Server) *int { return &s.ProxyBuffer }),
		slotFlag("proxy_pass_error_message", func(s *Server) *bool { return &s.ProxyPassErrorMessage }),
		&directive{name: "proxy_protocol", ctx: ctxMailServer, args: argFlag, set: setProxyProtocol},
		slotFlag("proxy_smtp_auth", func(s *Server) *bool { return &s.ProxySMTPAuth }),
		slotMsec("proxy_timeout", func(s *Server) *time.Duration { return &s.ProxyTimeout }),
		slotFlag("xclient", func(s *Server) *bool { return &s.XClient }),
	)
	tableAdd("mail_imap",
		slotAuth("imap_auth", imapAuthMethods, func(s *Server) *AuthMethods { return &s.IMAPAuth }),
		slotList("imap_capabilities", arg1More, false, func(s *Server) *[]string { return &s.IMAPCapabilities }),
		slotSize("imap_client_buffer", func(s *Server) *int { return &s.IMAPClientBuffer }),
	)
	tableAdd("mail_pop3",
		slotAuth("pop3_auth", pop3AuthMethods, func(s *Server) *AuthMethods { return &s.POP3Auth }),
		slotList("pop3_capabilities", arg1More, false, func(s *Server) *[]string { return &s.POP3Capabilities }),
	)
	// pop3_client_buffer is a mailproxy extension (nginx: fixed 128 bytes);
	// so is proxy_forward_client (the client's address to trusted IMAP and
	// POP3 backends, as Dovecot's proxy sends it).
	tableAdd("mailproxy",
		slotSize("pop3_client_buffer", func(s *Server) *int { return &s.POP3ClientBuffer }),
		slotFlag("proxy_forward_client", func(s *Server) *bool { return &s.ProxyForwardClient }),
	)
	tableAdd("mail_smtp",
		slotAuth("smtp_auth", smtpAuthMethods, func(s *Server) *AuthMethods { return &s.SMTPAuth }),
		slotList("smtp_capabilities", arg1More, false, func(s *Server) *[]string { return &s.SMTPCapabilities }),
		slotSize("smtp_client_buffer", func(s *Server) *int { return &s.SMTPClientBuffer }),
		slotMsec("smtp_greeting_delay", func(s *Server) *time.Duration { return &s.SMTPGreetingDelay }),
	)
	tableAdd("mail_realip",
		&directive{name: "set_real_ip_from", ctx: ctxMailServer, args: take1, multi: true, set: setRealIPFrom},
	)
}

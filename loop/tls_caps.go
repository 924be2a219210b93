package loop

import (
	"strings"

	"mailproxy/config"
)

// Capability replies that change with STARTTLS, built once per server:
// POP3 CAPA (reference §3.2.1) and SMTP EHLO (§3.3.1). IMAP's are in
// imapCaps.

var (
	pop3STLSLine      = "STLS\r\n"
	smtpStartTLSReply = []byte("220 2.0.0 Start TLS\r\n")
)

// tlsPOP3Capa returns the CAPA replies for starttls on (the usual list
// plus STLS after the SASL line) and starttls only (the capabilities
// without USER, no SASL line, STLS).
func tlsPOP3Capa(c *config.Server, mechs []string) (on, only []byte) {
	on = []byte(pop3CapaHead)
	only = []byte(pop3CapaHead)
	for _, cp := range c.POP3Capabilities {
		on = append(append(on, cp...), "\r\n"...)
		if !strings.EqualFold(cp, "USER") {
			only = append(append(only, cp...), "\r\n"...)
		}
	}
	on = append(on, "SASL"...)
	for _, m := range mechs {
		on = append(append(on, ' '), m...)
	}
	on = append(on, "\r\n"...)
	on = append(append(on, pop3STLSLine...), pop3MultilineEnd...)
	only = append(append(only, pop3STLSLine...), pop3MultilineEnd...)
	return on, only
}

// capaFor picks the CAPA reply for the session's TLS state.
func (pc *pop3Conf) capaFor(s *session) []byte {
	if s.tls == nil && pc.capaOn != nil {
		switch s.cfg().Starttls {
		case config.StarttlsOn:
			return pc.capaOn
		case config.StarttlsOnly:
			return pc.capaOnly
		}
	}
	return pc.capa
}

// tlsSMTPEHLO returns the EHLO replies for starttls on (the AUTH line
// becomes "250-AUTH ...", "250 STARTTLS" last) and starttls only (no AUTH
// line).
func tlsSMTPEHLO(c *config.Server) (on, only []byte) {
	lines := append([]string{c.ServerName}, c.SMTPCapabilities...)
	withAuth := lines
	if auth := smtpAuthLine(c); auth != "" {
		withAuth = append(append([]string(nil), lines...), auth)
	}
	return smtpReplyLines(append(withAuth, "STARTTLS")), smtpReplyLines(append(lines, "STARTTLS"))
}

// ehloFor picks the EHLO reply for the session's TLS state.
func (sc *smtpConf) ehloFor(s *session) []byte {
	if s.tls == nil && sc.ehloOn != nil {
		switch s.cfg().Starttls {
		case config.StarttlsOn:
			return sc.ehloOn
		case config.StarttlsOnly:
			return sc.ehloOnly
		}
	}
	return sc.ehlo
}

package codec

import (
	"strconv"

	"mailproxy/config"
)

// AuthRequest is what one auth_http call says about a login attempt. The
// engine fills it on the event loop (copying anything that aliases a read
// buffer) and hands it to a worker; AppendAuthHeaders turns it into nginx's
// header lines.
type AuthRequest struct {
	Method   string // "plain", "apop", "cram-md5", "external", "none"
	User     []byte // raw login (escaped when encoded)
	Pass     []byte // raw password / digest / "" (escaped when encoded)
	Salt     []byte // the session's salt, without CRLF; see AppendAuthHeaders for when it is sent
	Protocol string // "imap", "pop3", "smtp"
	Attempt  int    // Auth-Login-Attempt
	ClientIP string // IPv6 without brackets

	// ClientPort is sent as "Client-Port" right after Client-IP when > 0.
	// nginx does not send it (open PR nginx/nginx#538, issue #205); it is a
	// mailproxy extension that auth servers which do not know it ignore.
	ClientPort int

	// ClientHost is sent as Client-Host when non-empty. nginx sets it for
	// SMTP only (the PTR name, "[UNAVAILABLE]" or "[TEMPUNAVAIL]"), so the
	// engine leaves it empty for IMAP and POP3.
	ClientHost string

	// PROXY protocol (sent only when HasProxy, trusted or not, as nginx 1.19.8+).
	HasProxy        bool
	ProxyAddr       string
	ProxyPort       int
	ProxyServerAddr string
	ProxyServerPort int

	// SMTP none path (sent only when Method == "none").
	SMTPHelo, SMTPFrom, SMTPTo []byte

	// TLS (sent only when SSL).
	SSL         bool
	SSLProtocol string // sent when non-empty
	SSLCipher   string // sent when non-empty
	SSLVerify   string // "" = ssl_verify_client off (header omitted); else SUCCESS / FAILED:reason / NONE
	// Certificate details, each sent only when non-empty.
	SSLSubject     string
	SSLIssuer      string
	SSLSerial      string
	SSLFingerprint string
	SSLCert        []byte // PEM; sent escaped
}

// AppendAuthHeaders appends the auth_http request header lines for r to dst,
// each "Name: value\r\n", in nginx's order (auth_http.c
// ngx_mail_auth_http_create_request; reference §2.2): Auth-Method,
// Auth-User, Auth-Pass, Auth-Salt, Auth-Protocol, Auth-Login-Attempt,
// Client-IP, [Client-Port], Client-Host, Proxy-Protocol-*, Auth-SMTP-*,
// Auth-SSL*, then extra (auth_http_header, config order, verbatim). It
// writes neither the request line nor Host (the HTTP client does) nor the
// final blank line.
//
// Auth-Salt follows nginx exactly: it is sent whenever Method is not
// "plain" and Salt is non-empty. nginx keeps one salt per session (made when
// apop or cram-md5 is enabled), so a session with a salt also sends it for
// external and none; the engine reproduces that by always passing the
// session's salt, or none.
//
// Auth-User, Auth-Pass and Auth-SSL-Cert are escaped with AppendAuthEscape.
// The other values go out raw as in nginx; the codecs never let CR or LF
// into them, and as a last defence against header injection any CR or LF
// that does arrive is written as %0D / %0A. extra is written verbatim.
//
// AppendAuthHeaders does not allocate when dst has room.
func AppendAuthHeaders(dst []byte, r *AuthRequest, extra []config.Header) []byte {
	dst = authAppendLine(dst, "Auth-Method: ", r.Method)
	dst = append(dst, "Auth-User: "...)
	dst = AppendAuthEscape(dst, r.User)
	dst = append(dst, "\r\nAuth-Pass: "...)
	dst = AppendAuthEscape(dst, r.Pass)
	dst = append(dst, '\r', '\n')
	if r.Method != "plain" && len(r.Salt) > 0 {
		dst = append(dst, "Auth-Salt: "...)
		dst = authAppendRaw(dst, r.Salt)
		dst = append(dst, '\r', '\n')
	}
	dst = authAppendLine(dst, "Auth-Protocol: ", r.Protocol)
	dst = authAppendInt(dst, "Auth-Login-Attempt: ", r.Attempt)
	dst = authAppendLine(dst, "Client-IP: ", r.ClientIP)
	if r.ClientPort > 0 {
		dst = authAppendInt(dst, "Client-Port: ", r.ClientPort)
	}
	if r.ClientHost != "" {
		dst = authAppendLine(dst, "Client-Host: ", r.ClientHost)
	}
	if r.HasProxy {
		dst = authAppendLine(dst, "Proxy-Protocol-Addr: ", r.ProxyAddr)
		dst = authAppendInt(dst, "Proxy-Protocol-Port: ", r.ProxyPort)
		dst = authAppendLine(dst, "Proxy-Protocol-Server-Addr: ", r.ProxyServerAddr)
		dst = authAppendInt(dst, "Proxy-Protocol-Server-Port: ", r.ProxyServerPort)
	}
	if r.Method == "none" {
		dst = append(dst, "Auth-SMTP-Helo: "...)
		dst = authAppendRaw(dst, r.SMTPHelo)
		dst = append(dst, "\r\nAuth-SMTP-From: "...)
		dst = authAppendRaw(dst, r.SMTPFrom)
		dst = append(dst, "\r\nAuth-SMTP-To: "...)
		dst = authAppendRaw(dst, r.SMTPTo)
		dst = append(dst, '\r', '\n')
	}
	if r.SSL {
		dst = append(dst, "Auth-SSL: on\r\n"...)
		dst = authAppendOpt(dst, "Auth-SSL-Protocol: ", r.SSLProtocol)
		dst = authAppendOpt(dst, "Auth-SSL-Cipher: ", r.SSLCipher)
		dst = authAppendOpt(dst, "Auth-SSL-Verify: ", r.SSLVerify)
		dst = authAppendOpt(dst, "Auth-SSL-Subject: ", r.SSLSubject)
		dst = authAppendOpt(dst, "Auth-SSL-Issuer: ", r.SSLIssuer)
		dst = authAppendOpt(dst, "Auth-SSL-Serial: ", r.SSLSerial)
		dst = authAppendOpt(dst, "Auth-SSL-Fingerprint: ", r.SSLFingerprint)
		if len(r.SSLCert) > 0 {
			dst = append(dst, "Auth-SSL-Cert: "...)
			dst = AppendAuthEscape(dst, r.SSLCert)
			dst = append(dst, '\r', '\n')
		}
	}
	for i := range extra {
		dst = append(dst, extra[i].Name...)
		dst = append(dst, ':', ' ')
		dst = append(dst, extra[i].Value...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// AppendAuthEscape appends src to dst escaped as nginx's
// NGX_ESCAPE_MAIL_AUTH (ngx_string.c, reference §2.4): bytes 0x00–0x20 and
// '%' become %XX in uppercase hex; everything else, including '"', ':',
// '+', 0x7F and UTF-8 bytes ≥ 0x80, is copied raw.
func AppendAuthEscape(dst, src []byte) []byte {
	for _, c := range src {
		if c <= ' ' || c == '%' {
			dst = append(dst, '%', authHex[c>>4], authHex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

const authHex = "0123456789ABCDEF"

func authAppendLine(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = authAppendRaw(dst, value)
	return append(dst, '\r', '\n')
}

func authAppendOpt(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	return authAppendLine(dst, name, value)
}

func authAppendInt(dst []byte, name string, n int) []byte {
	dst = append(dst, name...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// authAppendRaw copies a value nginx sends unescaped, except CR and LF
// (see AppendAuthHeaders). One body for byte slices and strings.
func authAppendRaw[T ~[]byte | ~string](dst []byte, v T) []byte {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\r':
			dst = append(dst, "%0D"...)
		case '\n':
			dst = append(dst, "%0A"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

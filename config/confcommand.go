package config

import (
	"strings"
)

// ssl_conf_command NAME VALUE (ngx_mail_ssl_module, nginx 1.19.4+): nginx
// hands each pair to OpenSSL's SSL_CONF_cmd after every other ssl_*
// directive, so they override. mailproxy applies the same commands to
// Go's crypto/tls (loop/mailtls/confcommand.go) in the same order and at
// the same point. Here: the command name (case-insensitive, as OpenSSL
// reads config files), the values that need no file or table from
// mailtls, and the notices for what Go cannot do. Errors use nginx's
// SSL_CONF_cmd wording, which names the command and the value.

// sslConfSupported are the commands mailproxy applies, by lower-case name.
var sslConfSupported = map[string]string{
	"certificate": "Certificate", "privatekey": "PrivateKey", "options": "Options",
	"minprotocol": "MinProtocol", "maxprotocol": "MaxProtocol",
	"groups": "Groups", "curves": "Curves",
	"ciphersuites": "Ciphersuites", "cipherstring": "CipherString",
	"numtickets": "NumTickets",
}

// sslConfOther are the other commands OpenSSL 3.0 takes in a server
// context: known, so the error says mailproxy lacks them rather than
// that they do not exist.
var sslConfOther = map[string]string{
	"signaturealgorithms": "SignatureAlgorithms", "clientsignaturealgorithms": "ClientSignatureAlgorithms",
	"ecdhparameters": "ECDHParameters", "protocol": "Protocol", "verifymode": "VerifyMode",
	"serverinfofile": "ServerInfoFile", "chaincapath": "ChainCAPath", "chaincafile": "ChainCAFile",
	"verifycapath": "VerifyCAPath", "verifycafile": "VerifyCAFile", "requestcafile": "RequestCAFile",
	"clientcafile": "ClientCAFile", "requestcapath": "RequestCAPath", "clientcapath": "ClientCAPath",
	"dhparameters": "DHParameters", "recordpadding": "RecordPadding",
}

// sslConfOptionsIgnored are OpenSSL options ("Options" values) that Go's
// crypto/tls has no switch for; each says what Go does instead. Ignoring
// them is never less safe than honouring them.
var sslConfOptionsIgnored = map[string]string{
	"compression":                 "Go's crypto/tls never compresses",
	"emptyfragments":              "Go's crypto/tls splits CBC records itself (1/n-1)",
	"bugs":                        "Go's crypto/tls has no bug workarounds to enable",
	"dhsingle":                    "Go's crypto/tls always uses fresh keys",
	"ecdhsingle":                  "Go's crypto/tls always uses fresh keys",
	"noresumptiononrenegotiation": "Go's crypto/tls servers never renegotiate",
	"norenegotiation":             "Go's crypto/tls servers never renegotiate",
	"clientrenegotiation":         "Go's crypto/tls servers never renegotiate",
	"allowclientrenegotiation":    "Go's crypto/tls servers never renegotiate",
	"unsafelegacyrenegotiation":   "Go's crypto/tls servers never renegotiate",
	"unsafelegacyserverconnect":   "it concerns clients",
	"legacyserverconnect":         "it concerns clients",
	"allownodhekex":               "Go's crypto/tls resumes TLS 1.3 with (EC)DHE only",
	"prioritizechacha":            "Go's crypto/tls prefers ChaCha20 by itself for clients without AES hardware",
	"middleboxcompat":             "Go's crypto/tls always sends the compatibility records",
	"antireplay":                  "Go's crypto/tls accepts no early data",
	"encryptthenmac":              "Go's crypto/tls does not negotiate encrypt-then-MAC",
	"extendedmastersecret":        "Go's crypto/tls always offers the extended master secret",
	"ktls":                        "Go's crypto/tls runs in user space",
	"canames":                     "the CA names sent are those of ssl_client_certificate",
	"ignoreunexpectedeof":         "mailproxy treats an unexpected EOF as the end of the session",
}

// SSLConfProtocols are the values MinProtocol and MaxProtocol take
// ("None": no limit), as OpenSSL spells them.
var SSLConfProtocols = map[string]bool{"None": true, "SSLv3": true, "TLSv1": true, "TLSv1.1": true, "TLSv1.2": true, "TLSv1.3": true}

// SSLConfCmdError is nginx's message for a command OpenSSL refused.
func SSLConfCmdError(name, value, reason string) error {
	return errorf(`SSL_CONF_cmd("%s", "%s") failed (SSL: %s)`, name, value, reason)
}

func setSSLConfCommand(p *parser, d *node) error {
	s := &p.cur().s
	if p.first(d) {
		s.SSLConfCommands = nil
	}
	key := strings.ToLower(d.args[0])
	name, value := sslConfSupported[key], d.args[1]
	if name == "" {
		if other := sslConfOther[key]; other != "" {
			return d.nodeErr(`"ssl_conf_command %s" is not supported by mailproxy (Go's crypto/tls); it supports Certificate, PrivateKey, Options, MinProtocol, MaxProtocol, Groups, Curves, CipherString, Ciphersuites`, other)
		}
		return d.nodeErr(`SSL_CONF_cmd("%s", "%s") failed (SSL: error:0A000182:SSL routines::unknown cmd name:cmd=%s)`, d.args[0], value, d.args[0])
	}
	badValue := func() error {
		return d.nodeErr(`SSL_CONF_cmd("%s", "%s") failed (SSL: error:0A000180:SSL routines::bad value:cmd=%s, value=%s)`, d.args[0], value, d.args[0], value)
	}
	switch name {
	case "Options":
		for _, o := range strings.Split(value, ",") {
			o = strings.TrimSpace(o)
			bare := strings.ToLower(strings.TrimPrefix(o, "-"))
			switch {
			case bare == "sessionticket" || bare == "serverpreference":
			case sslConfOptionsIgnored[bare] != "":
				p.notice("warn", d, `"ssl_conf_command Options %s" is ignored: %s`, o, sslConfOptionsIgnored[bare])
			default:
				return badValue()
			}
		}
	case "MinProtocol", "MaxProtocol":
		if !SSLConfProtocols[value] {
			return badValue()
		}
		if value == "SSLv3" {
			p.notice("warn", d, `"ssl_conf_command %s SSLv3" is read as TLSv1: Go's crypto/tls has no SSL 3`, name)
		}
	case "NumTickets":
		if _, ok := valAtoi(value); !ok {
			return badValue()
		}
		p.notice("warn", d, `"ssl_conf_command NumTickets" is ignored: Go's crypto/tls sends one TLS 1.3 ticket per handshake`)
	case "Ciphersuites":
		if value != "" {
			p.notice("warn", d, `"ssl_conf_command Ciphersuites" cannot choose or order TLS 1.3 suites: Go's crypto/tls always enables TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256 and orders them itself; a list without all three is an error while TLS 1.3 is enabled`)
		}
	}
	if name == "Certificate" || name == "PrivateKey" {
		value = p.path(value)
	}
	s.SSLConfCommands = append(s.SSLConfCommands, Header{Name: name, Value: value})
	return nil
}

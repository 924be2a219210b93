package config

import "sync"

// ctxMask says where a directive may appear.
type ctxMask uint8

const (
	ctxMain   ctxMask = 1 << iota // top level of the main file
	ctxEvents                     // events { }
	ctxMail                       // mail { }
	ctxServer                     // server { } inside mail
	ctxAdmin                      // admin { } (mailproxy extension)

	ctxMailServer = ctxMail | ctxServer
	ctxAny        = ctxMain | ctxEvents | ctxMail | ctxServer | ctxAdmin
)

// arity is nginx's NGX_CONF_NOARGS/TAKEn/FLAG/1MORE/2MORE/ANY/BLOCK: bit n
// (n = 0..7) allows n arguments after the name.
type arity uint16

const (
	take0 arity = 1 << iota
	take1
	take2
	take3
	take4
	take5
	take6
	take7
	argFlag  // exactly one argument, on|off
	arg1More // one or more
	arg2More // two or more
	argAny   // any number
	argBlock // followed by { ... }

	take12 = take1 | take2
)

// confMaxArgs is NGX_CONF_MAX_ARGS.
const confMaxArgs = 8

// valid reports whether n arguments (not counting the name) fit.
func (a arity) valid(n int) bool {
	switch {
	case a&argAny != 0:
		return true
	case a&argFlag != 0:
		return n == 1
	case a&arg1More != 0:
		return n >= 1
	case a&arg2More != 0:
		return n >= 2
	case n >= confMaxArgs:
		return false
	}
	return a&(1<<n) != 0
}

// directive is one entry of the directive table.
type directive struct {
	name   string
	module string // nginx module the directive comes from ("mailproxy" for extensions)
	ctx    ctxMask
	args   arity
	// multi allows the directive more than once at one level (lists, and
	// directives nginx lets override silently such as protocol and
	// auth_http); otherwise a repeat is "is duplicate".
	multi bool
	// gatedByValue: the "not supported yet" check is done by set for some
	// values only (starttls on|only, proxy_protocol on|v2, resolver ADDR).
	gatedByValue bool
	set          func(p *parser, d *node) error
}

// directives maps a name to its entries (one name may have entries for
// different contexts, e.g. listen in server{} and in admin{}).
var directives = map[string][]*directive{}

func tableAdd(module string, ds ...*directive) {
	for _, d := range ds {
		d.module = module
		directives[d.name] = append(directives[d.name], d)
	}
}

// Names that the table knows but mailproxy does not implement yet. Names of
// listen parameters are "listen:ssl" and "listen:proxy_protocol".
var (
	supportedMu  sync.RWMutex
	notSupported = map[string]bool{
		"starttls":                    true,
		"ssl_certificate":             true,
		"ssl_certificate_key":         true,
		"ssl_certificate_compression": true,
		"ssl_password_file":           true,
		"ssl_dhparam":                 true,
		"ssl_ecdh_curve":              true,
		"ssl_protocols":               true,
		"ssl_ciphers":                 true,
		"ssl_prefer_server_ciphers":   true,
		"ssl_session_cache":           true,
		"ssl_session_tickets":         true,
		"ssl_session_ticket_key":      true,
		"ssl_session_timeout":         true,
		"ssl_verify_client":           true,
		"ssl_verify_depth":            true,
		"ssl_client_certificate":      true,
		"ssl_trusted_certificate":     true,
		"ssl_crl":                     true,
		"ssl_conf_command":            true,
		"listen:ssl":                  true,
		"listen:proxy_protocol":       true,
		"proxy_protocol":              true,
		"set_real_ip_from":            true,
		"resolver":                    true,
		"resolver_timeout":            true,
	}
)

// SetSupported marks a directive (or listen parameter, named
// "listen:ssl", "listen:proxy_protocol") as implemented or not. The engine
// calls it from init as features land; a config using an unsupported one
// fails to load with `"NAME" directive is not supported by mailproxy yet`.
// Safe for concurrent use; it affects configs loaded afterwards.
func SetSupported(name string, on bool) {
	supportedMu.Lock()
	defer supportedMu.Unlock()
	if on {
		delete(notSupported, name)
	} else {
		notSupported[name] = true
	}
}

// Supported reports whether a directive or listen parameter is implemented.
func Supported(name string) bool {
	supportedMu.RLock()
	defer supportedMu.RUnlock()
	return !notSupported[name]
}

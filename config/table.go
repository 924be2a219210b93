package config

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
	set   func(p *parser, d *node) error
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

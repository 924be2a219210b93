package config

// so_keepalive on | off, in mail{} and server{}: the directive of older
// nginx mail configs (nginx 1.22 refuses it as unknown; its current form
// is the listen parameter so_keepalive=, listen.go). mailproxy accepts it
// as a legacy form with a notice naming the current one: on sets
// SO_KEEPALIVE on the client connections (through the listening socket,
// unless the listen directive has its own so_keepalive=) and on the
// backend connections of the server. Inherited from mail{} like the other
// flags.

func setSoKeepalive(p *parser, d *node) error {
	v, ok := valFlag(d.args[0])
	if !ok {
		return flagErr(d)
	}
	p.cur().s.SoKeepalive = v
	p.notice("notice", d, `"so_keepalive" directive is a legacy form kept for old configs; `+
		`the current one is the listen parameter "listen ... so_keepalive=%s" (the backend side has no nginx equivalent)`, d.args[0])
	return nil
}

func init() {
	tableAdd("mailproxy",
		&directive{name: "so_keepalive", ctx: ctxMailServer, args: argFlag, set: setSoKeepalive},
	)
}

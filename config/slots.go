package config

import (
	"strings"
	"time"
)

// Slot-style directives of mail{}/server{}, each the analogue of one of
// nginx's ngx_conf_set_*_slot functions with its error text.

func slotMsec(name string, field func(*Server) *time.Duration) *directive {
	return &directive{name: name, ctx: ctxMailServer, args: take1, set: func(p *parser, d *node) error {
		v, ok := valTime(d.args[0], false)
		if !ok {
			return d.nodeErr(`"%s" directive invalid value`, d.name)
		}
		*field(&p.cur().s) = v
		return nil
	}}
}

func slotSec(name string, field func(*Server) *time.Duration) *directive {
	return &directive{name: name, ctx: ctxMailServer, args: take1, set: func(p *parser, d *node) error {
		v, ok := valTime(d.args[0], true)
		if !ok {
			return d.nodeErr(`"%s" directive invalid value`, d.name)
		}
		*field(&p.cur().s) = v
		return nil
	}}
}

func slotSize(name string, field func(*Server) *int) *directive {
	return &directive{name: name, ctx: ctxMailServer, args: take1, set: func(p *parser, d *node) error {
		v, ok := valSize(d.args[0])
		if !ok {
			return d.nodeErr(`"%s" directive invalid value`, d.name)
		}
		*field(&p.cur().s) = v
		return nil
	}}
}

func slotNum(name string, field func(*Server) *int) *directive {
	return &directive{name: name, ctx: ctxMailServer, args: take1, set: func(p *parser, d *node) error {
		v, ok := valAtoi(d.args[0])
		if !ok {
			return d.nodeErr(`"%s" directive invalid number`, d.name)
		}
		*field(&p.cur().s) = v
		return nil
	}}
}

// flagErr is ngx_conf_set_flag_slot's message.
func flagErr(d *node) error {
	return d.nodeErr(`invalid value "%s" in "%s" directive, it must be "on" or "off"`, d.args[0], d.name)
}

func slotFlag(name string, field func(*Server) *bool) *directive {
	return &directive{name: name, ctx: ctxMailServer, args: argFlag, set: func(p *parser, d *node) error {
		v, ok := valFlag(d.args[0])
		if !ok {
			return flagErr(d)
		}
		*field(&p.cur().s) = v
		return nil
	}}
}

func slotStr(name string, field func(*Server) *string) *directive {
	return &directive{name: name, ctx: ctxMailServer, args: take1, set: func(p *parser, d *node) error {
		*field(&p.cur().s) = d.args[0]
		return nil
	}}
}

// slotPath is slotStr for file names: a relative one resolves against the
// main config file's directory.
func slotPath(name string, field func(*Server) *string) *directive {
	return &directive{name: name, ctx: ctxMailServer, args: take1, set: func(p *parser, d *node) error {
		*field(&p.cur().s) = p.path(d.args[0])
		return nil
	}}
}

// slotList is ngx_conf_set_str_array_slot: repeatable, each occurrence
// appends its arguments; the first at a level replaces the default or
// inherited list.
func slotList(name string, args arity, path bool, field func(*Server) *[]string) *directive {
	return &directive{name: name, ctx: ctxMailServer, args: args, multi: true, set: func(p *parser, d *node) error {
		f := field(&p.cur().s)
		if p.first(d) {
			*f = nil
		}
		for _, a := range d.args {
			if path {
				a = p.path(a)
			}
			*f = append(*f, a)
		}
		return nil
	}}
}

// slotAuth is ngx_conf_set_bitmask_slot over auth method names: repeatable,
// the first occurrence at a level replaces the default, later ones add.
func slotAuth(name string, methods map[string]AuthMethods, field func(*Server) *AuthMethods) *directive {
	return &directive{name: name, ctx: ctxMailServer, args: arg1More, multi: true, set: func(p *parser, d *node) error {
		f := field(&p.cur().s)
		if p.first(d) {
			*f = 0
		}
		for _, a := range d.args {
			m, ok := methods[strings.ToLower(a)] // bitmask slots compare case-insensitively
			if !ok {
				return d.nodeErr(`invalid value "%s"`, a)
			}
			*f |= m
		}
		return nil
	}}
}

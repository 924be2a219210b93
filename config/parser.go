package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// node is one directive as read: its name, arguments and where it ends.
type node struct {
	name string
	args []string // after the name
	file string
	line int    // line of the terminating ";" or "{" (what nginx reports)
	lx   *lexer // for block directives and include: the lexer to continue with
}

// nodeErr formats an error in nginx's form "MSG in FILE:LINE".
func (d *node) nodeErr(format string, a ...any) error {
	return fmt.Errorf("%s in %s:%d", fmt.Sprintf(format, a...), d.file, d.line)
}

// where is the " in FILE:LINE" suffix for notices.
func (d *node) where() string { return fmt.Sprintf(" in %s:%d", d.file, d.line) }

// srcFile is one file read while parsing, for Dump.
type srcFile struct {
	path string
	data []byte
}

// maxIncludeDepth bounds include recursion (nginx has no bound and runs
// out of file descriptors instead).
const maxIncludeDepth = 32

// parser holds the state of one Load. It is not shared between goroutines.
type parser struct {
	cfg     *Config
	confDir string // relative include/pid/log paths resolve here
	files   []srcFile
	depth   int

	ctx  ctxMask
	seen map[string]bool // directives seen at the current main/events/admin level

	mail    *srvState   // mail{} level, nil outside mail
	srv     *srvState   // current server{}, nil outside one
	servers []*srvState // in config order
	listens map[string]bool

	lookupHost    func(string) ([]string, error)
	resolved      map[string][]string // lookup cache: a name is resolved once per load
	lookupDNS     func(servers []string, timeout time.Duration, ipv4, ipv6 bool, host string) bool
	resolverFound map[string]bool // resolverHasAddr's cache
	inheriting    bool            // re-applying mail-level nodes: no duplicate notices
	sslZones      map[string]int  // ssl_session_cache shared:NAME:size, for nginx's size-conflict check
}

func newParser(path string) *parser {
	return &parser{
		cfg:        &Config{File: path},
		confDir:    filepath.Dir(path),
		ctx:        ctxMain,
		seen:       map[string]bool{},
		listens:    map[string]bool{},
		lookupHost: lookupHost,
		lookupDNS:  lookupDNS,
	}
}

// lookup resolves a host name once per load.
func (p *parser) lookup(host string) ([]string, error) {
	if a, ok := p.resolved[host]; ok {
		return a, nil
	}
	a, err := p.lookupHost(host)
	if err != nil {
		return nil, err
	}
	if p.resolved == nil {
		p.resolved = map[string][]string{}
	}
	p.resolved[host] = a
	return a, nil
}

// lookupHost resolves names at load time (auth_http, listen, set_real_ip_from);
// tests replace it to stay off the network.
var lookupHost = net.LookupHost

// parse reads directives until the end of the file (inBlock false) or the
// "}" closing the current block (inBlock true).
func (p *parser) parse(lx *lexer, inBlock bool) error {
	for {
		args, t, err := lx.next()
		if err != nil {
			return err
		}
		switch t {
		case termEOF:
			if inBlock {
				return lx.lexError(`unexpected end of file, expecting "}"`)
			}
			return nil
		case termBlockDone:
			if !inBlock {
				return lx.lexError(`unexpected "}"`)
			}
			return nil
		}
		d := &node{name: args[0], args: args[1:], file: lx.file, line: lx.line, lx: lx}
		if err := p.handle(d, t); err != nil {
			return err
		}
	}
}

// handle runs nginx's ngx_conf_handler checks in its order (known, allowed
// here, terminator, arity), then ours (supported, duplicate), then the
// directive's own parser.
func (p *parser) handle(d *node, t lexTerm) error {
	entries := directives[d.name]
	if len(entries) == 0 {
		return d.nodeErr(`unknown directive "%s"`, d.name)
	}
	var e *directive
	for _, c := range entries {
		if c.ctx&p.ctx != 0 {
			e = c
			break
		}
	}
	if e == nil {
		return d.nodeErr(`"%s" directive is not allowed here`, d.name)
	}
	if e.args&argBlock == 0 && t != termSemi {
		return d.nodeErr(`directive "%s" is not terminated by ";"`, d.name)
	}
	if e.args&argBlock != 0 && t != termBlockStart {
		return d.nodeErr(`directive "%s" has no opening "{"`, d.name)
	}
	if !e.args.valid(len(d.args)) {
		return d.nodeErr(`invalid number of arguments in "%s" directive`, d.name)
	}
	seen := p.levelSeen()
	if !e.multi && seen[d.name] {
		return d.nodeErr(`"%s" directive is duplicate`, d.name)
	}
	if err := e.set(p, d); err != nil {
		return err
	}
	seen[d.name] = true
	if p.ctx&ctxMailServer != 0 && e.ctx&ctxMailServer == ctxMailServer && e.name != "include" {
		st := p.cur()
		st.nodes = append(st.nodes, d)
	}
	return nil
}

// levelSeen is the duplicate-tracking set of the current level.
func (p *parser) levelSeen() map[string]bool {
	switch p.ctx {
	case ctxMail:
		return p.mail.seen
	case ctxServer:
		return p.srv.seen
	}
	return p.seen
}

// block parses the body of a block directive in context ctx with a fresh
// duplicate set.
func (p *parser) block(d *node, ctx ctxMask) error {
	saveCtx, saveSeen := p.ctx, p.seen
	p.ctx = ctx
	if ctx&(ctxMail|ctxServer) == 0 {
		p.seen = map[string]bool{}
	}
	err := p.parse(d.lx, true)
	p.ctx, p.seen = saveCtx, saveSeen
	return err
}

// notice records a non-fatal message with nginx's location suffix.
func (p *parser) notice(level string, d *node, format string, a ...any) {
	if p.inheriting {
		return
	}
	p.cfg.Notices = append(p.cfg.Notices, Notice{Level: level, Msg: fmt.Sprintf(format, a...) + d.where()})
}

// path resolves a relative path against the main config file's directory.
func (p *parser) path(s string) string {
	if s == "" || filepath.IsAbs(s) || s == "stderr" {
		return s
	}
	for _, pre := range []string{"data:", "engine:", "store:", "syslog:", "memory:"} {
		if strings.HasPrefix(s, pre) {
			return s
		}
	}
	return filepath.Join(p.confDir, s)
}

// readFile reads one config file, for the main file and for include.
func (p *parser) readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p.files = append(p.files, srcFile{path: path, data: data})
	return data, nil
}

// syscallErr renders an OS error as nginx does: "(2: No such file or directory)".
func syscallErr(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		msg := errno.Error()
		if msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
		return fmt.Sprintf("(%d: %s)", int(errno), msg)
	}
	return "(" + err.Error() + ")"
}

// setInclude implements include FILE|GLOB in any context: the file's
// directives are handled as if written in place. A pattern matching no
// file is fine (nginx: glob with no match), a plain missing file is not.
func setInclude(p *parser, d *node) error {
	pat := p.path(d.args[0])
	var files []string
	if strings.ContainsAny(pat, "*?[") {
		m, err := filepath.Glob(pat)
		if err != nil {
			return d.nodeErr(`glob() "%s" failed (%v)`, pat, err)
		}
		files = m
	} else {
		files = []string{pat}
	}
	if p.depth >= maxIncludeDepth {
		return d.nodeErr(`include depth exceeds %d (include loop?)`, maxIncludeDepth)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.IsDir() {
			continue // glob() in nginx skips directories too
		}
		data, err := p.readFile(f)
		if err != nil {
			return d.nodeErr(`open() "%s" failed %s`, f, syscallErr(err))
		}
		p.depth++
		err = p.parse(newLexer(f, data), false)
		p.depth--
		if err != nil {
			return err
		}
	}
	return nil
}

func init() {
	tableAdd("core", &directive{name: "include", ctx: ctxAny, args: take1, multi: true, set: setInclude})
}

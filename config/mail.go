package config

import (
	"os"
	"time"
)

// srvState is one mail{} or server{} level while parsing: the values set
// at this level (over defaults), which directives were set, and the nodes
// that servers inherit.
type srvState struct {
	s     Server
	seen  map[string]bool
	nodes []*node // inheritable directives set at this level, in order

	// For nginx's no "ssl_certificate" error (ngx_mail_ssl_merge_conf):
	// whether a listen has ssl, and where the last "listen ... ssl" or
	// starttls of this level is (a server without one uses mail's).
	listenSSL bool
	sslFile   string
	sslLine   int

	// auth_http host names not found at load by the system's resolver
	// (authHTTPCheck asks the resolver directive's name servers).
	authHosts []authHostPending
}

// serverDefaults are nginx's defaults for every mail/server directive.
func serverDefaults() Server {
	host, _ := os.Hostname()
	return Server{
		ServerName:        host,
		Timeout:           60 * time.Second,
		MaxErrors:         5,
		ResolverTimeout:   30 * time.Second,
		AuthHTTPTimeout:   60 * time.Second,
		ProxyBuffer:       4096,
		ProxyTimeout:      24 * time.Hour,
		XClient:           true,
		IMAPAuth:          AuthPlain,
		IMAPCapabilities:  []string{"IMAP4", "IMAP4rev1", "UIDPLUS"},
		IMAPClientBuffer:  4096,
		POP3Auth:          AuthPlain,
		POP3Capabilities:  []string{"TOP", "USER", "UIDL"},
		POP3ClientBuffer:  4096,
		SMTPAuth:          AuthPlain | AuthLogin,
		SMTPClientBuffer:  4096,
		SSLProtocols:      []string{"TLSv1.2", "TLSv1.3"},
		SSLCiphers:        "HIGH:!aNULL:!MD5",
		SSLECDHCurve:      "auto",
		SSLSessionCache:   "none",
		SSLSessionTickets: true,
		SSLSessionTimeout: 5 * time.Minute,
		SSLVerifyClient:   "off",
		SSLVerifyDepth:    1,
	}
}

func newSrvState() *srvState {
	return &srvState{s: serverDefaults(), seen: map[string]bool{}}
}

// cur is the level mail/server directives write to.
func (p *parser) cur() *srvState {
	if p.ctx == ctxServer {
		return p.srv
	}
	return p.mail
}

// first reports whether d is the first of its name at the current level;
// list directives use it to drop the default or inherited list.
func (p *parser) first(d *node) bool { return !p.cur().seen[d.name] }

func setMail(p *parser, d *node) error {
	p.mail = newSrvState()
	if err := p.block(d, ctxMail); err != nil {
		return err
	}
	m, err := p.mailFinish()
	if err != nil {
		return err
	}
	p.cfg.Mail = m
	p.mail, p.srv = nil, nil
	return nil
}

func setServer(p *parser, d *node) error {
	st := newSrvState()
	st.s.File, st.s.Line = d.file, d.line
	p.srv = st
	if err := p.block(d, ctxServer); err != nil {
		return err
	}
	p.srv = nil
	if len(st.s.Listens) == 0 {
		// ngx_mail_core_server: logged without the directive's location.
		return errorf(`no "listen" is defined for server in %s:%d`, st.s.File, st.s.Line)
	}
	p.servers = append(p.servers, st)
	return nil
}

// mailFinish applies mail→server inheritance and runs the checks nginx
// runs when merging, module by module in nginx's module order (core, ssl,
// protocols, auth_http), so that the first error reported is nginx's.
func (p *parser) mailFinish() (*Mail, error) {
	for _, st := range p.servers {
		if err := p.inherit(st); err != nil {
			return nil, err
		}
	}
	for _, st := range p.servers {
		if st.s.Protocol == 0 {
			return nil, errorf(`unknown mail protocol for server in %s:%d`, st.s.File, st.s.Line)
		}
	}
	for _, st := range p.servers {
		if err := sslCheck(st); err != nil {
			return nil, err
		}
	}
	if err := authHostsCheck(p, p.mail); err != nil {
		return nil, err // mail{}'s own auth_http, as nginx checks it where it is written
	}
	for _, st := range p.servers {
		if st.s.AuthHTTPAddr == "" {
			return nil, errorf(`no "auth_http" is defined for server in %s:%d`, st.s.File, st.s.Line)
		}
		if err := authHTTPCheck(p, st); err != nil {
			return nil, err
		}
	}
	m := &Mail{}
	for _, st := range p.servers {
		s := st.s
		m.Servers = append(m.Servers, &s)
	}
	return m, nil
}

// inherit re-applies the mail-level directives a server did not set
// itself, in config order. Lists are therefore replaced wholesale: a level
// that sets any imap_capabilities (or auth_http_header, ...) drops what it
// would have inherited, as nginx's merge functions do.
func (p *parser) inherit(st *srvState) error {
	own := make(map[string]bool, len(st.seen))
	for k := range st.seen {
		own[k] = true
	}
	saveCtx, saveSrv := p.ctx, p.srv
	defer func() { p.ctx, p.srv, p.inheriting = saveCtx, saveSrv, false }()
	p.ctx, p.srv, p.inheriting = ctxServer, st, true
	sslFile, sslLine := st.sslFile, st.sslLine
	for _, d := range p.mail.nodes {
		if own[d.name] {
			continue
		}
		for _, e := range directives[d.name] {
			if e.ctx&ctxServer == 0 {
				continue
			}
			if err := e.set(p, d); err != nil {
				return err
			}
			st.seen[d.name] = true
			break
		}
	}
	if sslFile != "" {
		st.sslFile, st.sslLine = sslFile, sslLine
	} else {
		st.sslFile, st.sslLine = p.mail.sslFile, p.mail.sslLine
	}
	return nil
}

func init() {
	tableAdd("mail",
		&directive{name: "mail", ctx: ctxMain, args: argBlock | take0, set: setMail},
		&directive{name: "server", ctx: ctxMail, args: argBlock | take0, multi: true, set: setServer},
	)
}

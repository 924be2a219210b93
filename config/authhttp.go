package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// AuthHTTPServer is one URL of auth_http.
type AuthHTTPServer struct {
	URL  string // as written
	Addr string // "host:port" to dial (host as written, a name is resolved at run time), or "unix:/path"
	Host string // Host header value (and, for https, the name the certificate must carry)
	URI  string
	TLS  bool // https://
}

// AuthCache is auth_http_cache (extension). Size 0 means off.
type AuthCache struct {
	Size     int           // entries
	Valid    time.Duration // OK answers; default 60s
	Invalid  time.Duration // failures; default 10s
	ClientIP bool          // the client address is part of the key
}

// authHTTPParse splits an auth_http URL as nginx's ngx_parse_url does with
// default port 80 and a URI part: [http://]host[:port][/uri] or
// [http://]unix:/path[:/uri]. It returns nginx's u.err text on failure
// ("invalid host", "invalid port", "no host", ...). https://host[:port][/uri]
// is an extension (default port 443); nginx refuses it.
func authHTTPParse(raw string) (AuthHTTPServer, string) {
	u, port, tls := raw, "80", false
	if len(u) >= 8 && strings.EqualFold(u[:8], "https://") {
		u, port, tls = u[8:], "443", true
	} else if len(u) >= 7 && strings.EqualFold(u[:7], "http://") {
		u = u[7:]
	}
	if path, ok := strings.CutPrefix(u, "unix:"); ok {
		if tls {
			return AuthHTTPServer{}, "https over a unix domain socket is not supported"
		}
		uri := "/"
		if i := strings.IndexByte(path, ':'); i >= 0 {
			path, uri = path[:i], path[i+1:]
			if uri == "" {
				uri = "/"
			}
		}
		if path == "" {
			return AuthHTTPServer{}, "no path in the unix domain socket"
		}
		return AuthHTTPServer{URL: raw, Addr: "unix:" + path, Host: "localhost", URI: uri}, ""
	}
	hostport, uri := u, "/"
	if i := strings.IndexByte(u, '/'); i >= 0 {
		hostport, uri = u[:i], u[i:]
	}
	host := hostport
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return AuthHTTPServer{}, "invalid host"
		}
		host = hostport[:end+1]
		rest := hostport[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return AuthHTTPServer{}, "invalid host"
			}
			port = p
		}
		if net.ParseIP(strings.Trim(host, "[]")) == nil {
			return AuthHTTPServer{}, "invalid IPv6 address"
		}
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
	}
	if host == "" {
		return AuthHTTPServer{}, "no host"
	}
	n, ok := valAtoi(port)
	if !ok || n < 1 || n > 65535 {
		return AuthHTTPServer{}, "invalid port"
	}
	dial := strings.Trim(host, "[]")
	return AuthHTTPServer{URL: raw, Addr: net.JoinHostPort(dial, strconv.Itoa(n)), Host: host, URI: uri, TLS: tls}, ""
}

// authHTTPMaxServers bounds the URLs of one auth_http (each is a metrics
// label value).
const authHTTPMaxServers = 16

// setAuthHTTP: "auth_http URL [URL ...];". One URL is nginx's directive;
// several (an extension) are served round robin with failover
// (loop/authhttp Group).
func setAuthHTTP(p *parser, d *node) error {
	if len(d.args) > authHTTPMaxServers {
		return d.nodeErr(`too many URLs in "auth_http", at most %d`, authHTTPMaxServers)
	}
	var list []AuthHTTPServer
	var pending []authHostPending
	for _, raw := range d.args {
		u, msg := authHTTPParse(raw)
		shown := strings.TrimPrefix(raw, "http://")
		if msg != "" {
			return d.nodeErr(`%s in auth_http "%s"`, msg, shown)
		}
		if !strings.HasPrefix(u.Addr, "unix:") {
			// nginx resolves the host once, at load time; mailproxy fails
			// the load if it does not resolve, and re-resolves it at run
			// time (loop/authhttp lookup.go). A name the system's
			// resolver does not find may still be known to the name
			// servers of the resolver directive, which run time asks too;
			// the block's resolver is known once it is merged
			// (authHTTPCheck).
			h, _, _ := net.SplitHostPort(u.Addr)
			if net.ParseIP(h) == nil {
				if addrs, err := p.lookup(h); err != nil || len(addrs) == 0 {
					pending = append(pending, authHostPending{host: h, err: d.nodeErr(`host not found in auth_http "%s"`, shown)})
				}
			}
		}
		for _, o := range list {
			if o.Addr == u.Addr && o.Host == u.Host && o.URI == u.URI && o.TLS == u.TLS {
				return d.nodeErr(`duplicate URL "%s" in auth_http`, shown)
			}
		}
		list = append(list, u)
	}
	s := &p.cur().s
	s.AuthHTTP, s.AuthHTTPAddr, s.AuthHTTPHost, s.AuthHTTPURI = list[0].URL, list[0].Addr, list[0].Host, list[0].URI
	s.AuthHTTPServers = list
	p.cur().authHosts = pending
	return nil
}

// authHostPending is an auth_http host name the system's resolver did not
// find at load, and the error for it when the resolver directive's name
// servers do not know it either.
type authHostPending struct {
	host string
	err  error
}

// setAuthHTTPCache: "auth_http_cache off | SIZE [valid=TIME] [invalid=TIME]
// [client_ip];" (extension).
func setAuthHTTPCache(p *parser, d *node) error {
	s := &p.cur().s
	if d.args[0] == "off" {
		if len(d.args) > 1 {
			return d.nodeErr(`invalid parameter "%s"`, d.args[1])
		}
		s.AuthHTTPCache = AuthCache{}
		return nil
	}
	n, ok := valAtoi(d.args[0])
	if !ok || n < 1 {
		return d.nodeErr(`invalid cache size "%s" in "auth_http_cache"`, d.args[0])
	}
	c := AuthCache{Size: n, Valid: 60 * time.Second, Invalid: 10 * time.Second}
	for _, a := range d.args[1:] {
		switch {
		case strings.HasPrefix(a, "valid="):
			v, ok := valTime(a[6:], true)
			if !ok {
				return d.nodeErr(`invalid parameter "%s"`, a)
			}
			c.Valid = v
		case strings.HasPrefix(a, "invalid="):
			v, ok := valTime(a[8:], true)
			if !ok {
				return d.nodeErr(`invalid parameter "%s"`, a)
			}
			c.Invalid = v
		case a == "client_ip":
			c.ClientIP = true
		default:
			return d.nodeErr(`invalid parameter "%s"`, a)
		}
	}
	s.AuthHTTPCache = c
	return nil
}

// setAuthHTTPHeader is ngx_conf_set_keyval_slot: appended in config order;
// a level that sets any replaces the inherited set.
func setAuthHTTPHeader(p *parser, d *node) error {
	s := &p.cur().s
	if p.first(d) {
		s.AuthHTTPHeaders = nil
	}
	s.AuthHTTPHeaders = append(s.AuthHTTPHeaders, Header{Name: d.args[0], Value: d.args[1]})
	return nil
}

// authHTTPCheck runs after inheritance: a client certificate needs its
// key, and a host name the system's resolver did not find needs the
// block's resolver to know it.
func authHTTPCheck(p *parser, st *srvState) error {
	s := &st.s
	if (s.AuthHTTPSSLCertificate == "") != (s.AuthHTTPSSLCertificateKey == "") {
		return errorf(`"auth_http_ssl_certificate" and "auth_http_ssl_certificate_key" must be set together for server in %s:%d`, s.File, s.Line)
	}
	return authHostsCheck(p, st)
}

// authHostsCheck fails the load for an auth_http host name that neither
// the system's resolver nor the name servers of the level's resolver
// directive know.
func authHostsCheck(p *parser, st *srvState) error {
	for _, h := range st.authHosts {
		if !p.resolverHasAddr(&st.s, h.host) {
			return h.err
		}
	}
	return nil
}

func init() {
	tableAdd("mail_auth_http",
		&directive{name: "auth_http", ctx: ctxMailServer, args: arg1More, multi: true, set: setAuthHTTP},
		&directive{name: "auth_http_header", ctx: ctxMailServer, args: take2, multi: true, set: setAuthHTTPHeader},
		slotFlag("auth_http_pass_client_cert", func(s *Server) *bool { return &s.AuthHTTPPassClientCert }),
		slotMsec("auth_http_timeout", func(s *Server) *time.Duration { return &s.AuthHTTPTimeout }),
		slotPath("auth_http_ssl_trusted_certificate", func(s *Server) *string { return &s.AuthHTTPSSLTrustedCertificate }),
		slotPath("auth_http_ssl_certificate", func(s *Server) *string { return &s.AuthHTTPSSLCertificate }),
		slotPath("auth_http_ssl_certificate_key", func(s *Server) *string { return &s.AuthHTTPSSLCertificateKey }),
		&directive{name: "auth_http_cache", ctx: ctxMailServer, args: arg1More, set: setAuthHTTPCache},
	)
}

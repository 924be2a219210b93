package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// authHTTPURL is the parsed auth_http URL.
type authHTTPURL struct {
	addr string // "host:port" to dial (host as written), or "unix:/path"
	host string // Host header value
	uri  string
}

// authHTTPParse splits an auth_http URL as nginx's ngx_parse_url does with
// default port 80 and a URI part: [http://]host[:port][/uri] or
// [http://]unix:/path[:/uri]. It returns nginx's u.err text on failure
// ("invalid host", "invalid port", "no host", ...). https:// is refused:
// nginx's auth_http speaks plain HTTP only.
func authHTTPParse(raw string) (authHTTPURL, string) {
	u := raw
	if len(u) >= 8 && strings.EqualFold(u[:8], "https://") {
		return authHTTPURL{}, "https is not supported"
	}
	u = strings.TrimPrefix(u, "http://")
	if path, ok := strings.CutPrefix(u, "unix:"); ok {
		uri := "/"
		if i := strings.IndexByte(path, ':'); i >= 0 {
			path, uri = path[:i], path[i+1:]
			if uri == "" {
				uri = "/"
			}
		}
		if path == "" {
			return authHTTPURL{}, "no path in the unix domain socket"
		}
		return authHTTPURL{addr: "unix:" + path, host: "localhost", uri: uri}, ""
	}
	hostport, uri := u, "/"
	if i := strings.IndexByte(u, '/'); i >= 0 {
		hostport, uri = u[:i], u[i:]
	}
	host, port := hostport, "80"
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return authHTTPURL{}, "invalid host"
		}
		host = hostport[:end+1]
		rest := hostport[end+1:]
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return authHTTPURL{}, "invalid host"
			}
			port = p
		}
		if net.ParseIP(strings.Trim(host, "[]")) == nil {
			return authHTTPURL{}, "invalid IPv6 address"
		}
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
	}
	if host == "" {
		return authHTTPURL{}, "no host"
	}
	n, ok := valAtoi(port)
	if !ok || n < 1 || n > 65535 {
		return authHTTPURL{}, "invalid port"
	}
	dial := strings.Trim(host, "[]")
	return authHTTPURL{addr: net.JoinHostPort(dial, strconv.Itoa(n)), host: host, uri: uri}, ""
}

func setAuthHTTP(p *parser, d *node) error {
	raw := d.args[0]
	u, msg := authHTTPParse(raw)
	if msg == "https is not supported" {
		return d.nodeErr(`"https://" is not supported in auth_http "%s": nginx's auth_http protocol is plain HTTP; put the auth server on loopback or a private network`, raw)
	}
	if msg != "" {
		return d.nodeErr(`%s in auth_http "%s"`, msg, strings.TrimPrefix(raw, "http://"))
	}
	if !strings.HasPrefix(u.addr, "unix:") {
		// nginx resolves the host once, at load time; we keep the name as
		// written for dialing but fail now if it does not resolve.
		h, _, _ := net.SplitHostPort(u.addr)
		if net.ParseIP(h) == nil {
			if addrs, err := p.lookup(h); err != nil || len(addrs) == 0 {
				return d.nodeErr(`host not found in auth_http "%s"`, strings.TrimPrefix(raw, "http://"))
			}
		}
	}
	s := &p.cur().s
	s.AuthHTTP, s.AuthHTTPAddr, s.AuthHTTPHost, s.AuthHTTPURI = raw, u.addr, u.host, u.uri
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

func init() {
	tableAdd("mail_auth_http",
		&directive{name: "auth_http", ctx: ctxMailServer, args: take1, multi: true, set: setAuthHTTP},
		&directive{name: "auth_http_header", ctx: ctxMailServer, args: take2, multi: true, set: setAuthHTTPHeader},
		slotFlag("auth_http_pass_client_cert", func(s *Server) *bool { return &s.AuthHTTPPassClientCert }),
		slotMsec("auth_http_timeout", func(s *Server) *time.Duration { return &s.AuthHTTPTimeout }),
	)
}

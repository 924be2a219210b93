package codec

import (
	"errors"
	"fmt"
	"net/netip"
)

// AuthMaxResponse is nginx's auth_http response buffer: the status line
// plus the header block, blank line included, must fit in it (reference §2.5).
const AuthMaxResponse = 1024

var (
	// ErrAuthInvalidResponse: the status line has a CR not followed by LF, or
	// the header block ends before its blank line (nginx: "auth http server
	// X sent invalid response", or a premature close).
	ErrAuthInvalidResponse = errors.New("sent invalid response")
	// ErrAuthInvalidHeader: a header line breaks nginx's syntax: a name
	// outside [A-Za-z0-9-] (first byte alphanumeric), or a CR not followed
	// by LF (nginx: "sent invalid header in response").
	ErrAuthInvalidHeader = errors.New("sent invalid header in response")
	// ErrAuthTooLarge: no end of headers within AuthMaxResponse bytes.
	ErrAuthTooLarge = errors.New("sent too large response")

	// ErrAuthNoServer: Auth-Server or Auth-Port is missing or empty (nginx:
	// "did not send server or port").
	ErrAuthNoServer = errors.New("did not send server or port")
	// ErrAuthInvalidServer: Auth-Server is not a numeric IPv4 or IPv6 address.
	ErrAuthInvalidServer = errors.New("sent invalid server address")
	// ErrAuthInvalidPort: Auth-Port is not a decimal number in 1..65535.
	ErrAuthInvalidPort = errors.New("sent invalid server port")
)

// AuthResponse is the parsed answer of an auth server. Strings and byte
// slices never alias the parsed input. A worker may reuse one AuthResponse
// for many calls: User and Pass keep their capacity, and a string equal to
// the previous call's value is reused rather than allocated again.
type AuthResponse struct {
	// Status is the Auth-Status value: the failure text when a failure was
	// sent (even if an "OK" followed: nginx never clears a failure), else
	// "WAIT" or "OK" if sent, else "".
	Status string
	// OK: nginx goes on to connect to Auth-Server:Auth-Port. True when no
	// failure and no WAIT was sent, that is for "Auth-Status: OK" (exact,
	// case-sensitive) and also when Auth-Status is absent: nginx then
	// logs in if server and port are present, or reports "did not send
	// server or port" (reference §2.7). Check Backend next.
	OK bool
	// Wait: WAIT was sent and no failure: sleep WaitSecs (if HasWait and
	// > 0) and repeat the request with the same Auth-Login-Attempt.
	Wait bool
	// When neither OK nor Wait, the attempt failed: Status is the text to
	// send (possibly empty; nginx's SMTP path ignores an empty failure text,
	// an edge the engine may choose to copy), after sleeping WaitSecs.

	Server string // Auth-Server; validated by Backend
	Port   string // Auth-Port; validated by Backend

	// Auth-User / Auth-Pass overrides, copied raw: nginx does not unescape
	// them (auth_http.c copies the value as is).
	User    []byte
	HasUser bool
	Pass    []byte
	HasPass bool

	// Auth-Wait: a decimal integer; a non-integer is ignored and leaves an
	// earlier valid value in place, as in nginx.
	WaitSecs int
	HasWait  bool

	ErrorCode string // Auth-Error-Code (SMTP), "" if absent
	// ErrorSASL is Auth-Error-SASL (nginx PR #1590): for OAUTHBEARER and
	// XOAUTH2, the error challenge to send the client (base64 of the RFC
	// 7628 JSON status) before the failure reply; "" if absent.
	ErrorSASL string

	// Auth-Cache-Valid (mailproxy extension): how many seconds the auth
	// cache may keep this answer, at most its configured valid=/invalid=;
	// 0 forbids caching it. A non-integer is ignored.
	CacheValid    int
	HasCacheValid bool
}

// ParseAuthResponse parses an auth server's answer the way nginx does
// (auth_http.c, reference §2.5). b holds the response from its first
// byte; bytes after the blank line (the body) are ignored. A leading
// "HTTP/" status line is skipped and its code ignored; without one, headers
// start at the first byte. Bare LF ends lines; trailing spaces are trimmed;
// names are matched case-insensitively; unknown headers are ignored; a
// repeated header's last value wins. It returns ErrAuthTooLarge when no
// blank line is found in the first AuthMaxResponse bytes and len(b) ≥
// AuthMaxResponse, ErrAuthInvalidResponse when b ends earlier.
//
// It does not allocate when out is reused and its values repeat.
func ParseAuthResponse(b []byte, out *AuthResponse) error {
	prev := authPrev{out.Status, out.Server, out.Port, out.ErrorCode}
	*out = AuthResponse{User: out.User[:0], Pass: out.Pass[:0]}

	buf := b
	if len(buf) > AuthMaxResponse {
		buf = buf[:AuthMaxResponse]
	}
	p, err := authSkipStatusLine(buf)
	if err != nil {
		return err
	}
	var st authStatus
	for {
		if p >= len(buf) {
			break
		}
		name, value, next, end, err := authHeaderLine(buf, p)
		if err != nil {
			return err
		}
		if next < 0 {
			break // incomplete
		}
		if end {
			st.finish(out)
			return nil
		}
		authApply(out, &st, prev, name, value)
		p = next
	}
	if len(b) >= AuthMaxResponse {
		return ErrAuthTooLarge
	}
	return ErrAuthInvalidResponse
}

// Backend validates Auth-Server and Auth-Port as nginx does: the server
// must be a numeric IPv4 or IPv6 literal (no brackets, no zone, no name),
// the port a decimal number in 1..65535. Errors wrap ErrAuthNoServer,
// ErrAuthInvalidServer (with the value, for nginx's log line
// `sent invalid server address:"x"`) or ErrAuthInvalidPort.
func (r *AuthResponse) Backend() (netip.AddrPort, error) {
	if r.Server == "" || r.Port == "" {
		return netip.AddrPort{}, ErrAuthNoServer
	}
	ip, err := netip.ParseAddr(r.Server)
	if err != nil || ip.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%w:%q", ErrAuthInvalidServer, r.Server)
	}
	port, ok := authAtoi(r.Port)
	if !ok || port < 1 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("%w:%q", ErrAuthInvalidPort, r.Port)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

// authPrev holds the previous call's strings so equal values are reused.
type authPrev struct{ status, server, port, errcode string }

// authStatus accumulates Auth-Status lines; nginx decides after the last.
type authStatus struct {
	ok, wait, fail bool
}

func (st *authStatus) finish(out *AuthResponse) {
	switch {
	case st.fail:
		// Status already holds the last failure text.
	case st.wait:
		out.Wait = true
		out.Status = "WAIT"
	default:
		out.OK = true
		if st.ok {
			out.Status = "OK"
		}
	}
}

// authSkipStatusLine returns where headers start: after the first line if
// buf starts with "HTTP/", else 0. A prefix of "HTTP/" that is cut short by
// the end of buf counts as incomplete (ErrAuthInvalidResponse, or
// ErrAuthTooLarge for a full buffer, through the caller's end check).
func authSkipStatusLine(buf []byte) (int, error) {
	const proto = "HTTP/"
	for i := 0; i < len(proto); i++ {
		if i == len(buf) {
			return len(buf), nil // incomplete: the caller reports it
		}
		if buf[i] != proto[i] {
			return 0, nil
		}
	}
	for i := len(proto); i < len(buf); i++ {
		switch buf[i] {
		case '\n':
			return i + 1, nil
		case '\r':
			if i+1 == len(buf) {
				return len(buf), nil
			}
			if buf[i+1] != '\n' {
				return 0, ErrAuthInvalidResponse
			}
			return i + 2, nil
		}
	}
	return len(buf), nil
}

// authHeaderLine parses the line at buf[p:]. It returns next < 0 when the
// line is incomplete, end when the line is the blank line ending headers.
func authHeaderLine(buf []byte, p int) (name, value []byte, next int, end bool, err error) {
	switch c := buf[p]; {
	case c == '\n':
		return nil, nil, p + 1, true, nil
	case c == '\r':
		if p+1 == len(buf) {
			return nil, nil, -1, false, nil
		}
		if buf[p+1] != '\n' {
			return nil, nil, 0, false, ErrAuthInvalidHeader
		}
		return nil, nil, p + 2, true, nil
	case !authAlnum(c):
		return nil, nil, 0, false, ErrAuthInvalidHeader
	}
	i := p + 1
	for i < len(buf) && (authAlnum(buf[i]) || buf[i] == '-') {
		i++
	}
	if i == len(buf) {
		return nil, nil, -1, false, nil
	}
	name = buf[p:i]
	switch buf[i] {
	case ':':
		i++
	case '\r', '\n':
		// A name alone on its line: an empty value.
	default:
		return nil, nil, 0, false, ErrAuthInvalidHeader
	}
	for i < len(buf) && buf[i] == ' ' {
		i++
	}
	start := i
	for i < len(buf) && buf[i] != '\r' && buf[i] != '\n' {
		i++
	}
	if i == len(buf) {
		return nil, nil, -1, false, nil
	}
	stop := i
	for stop > start && buf[stop-1] == ' ' {
		stop--
	}
	value = buf[start:stop]
	if buf[i] == '\r' {
		if i+1 == len(buf) {
			return nil, nil, -1, false, nil
		}
		if buf[i+1] != '\n' {
			return nil, nil, 0, false, ErrAuthInvalidHeader
		}
		i++
	}
	return name, value, i + 1, false, nil
}

func authApply(out *AuthResponse, st *authStatus, prev authPrev, name, value []byte) {
	switch len(name) {
	case len("Auth-Status"): // also Auth-Server
		if authEqualFold(name, "auth-status") {
			switch string(value) {
			case "OK":
				st.ok = true
			case "WAIT":
				st.wait = true
			default:
				st.fail = true
				out.Status = authString(value, prev.status)
			}
		} else if authEqualFold(name, "auth-server") {
			out.Server = authString(value, prev.server)
		}
	case len("Auth-Port"): // also Auth-User, Auth-Pass, Auth-Wait
		switch {
		case authEqualFold(name, "auth-port"):
			out.Port = authString(value, prev.port)
		case authEqualFold(name, "auth-user"):
			out.User = append(out.User[:0], value...)
			out.HasUser = true
		case authEqualFold(name, "auth-pass"):
			out.Pass = append(out.Pass[:0], value...)
			out.HasPass = true
		case authEqualFold(name, "auth-wait"):
			if n, ok := authAtoi(value); ok {
				out.WaitSecs = n
				out.HasWait = true
			}
		}
	case len("Auth-Error-Code"): // also Auth-Error-SASL
		switch {
		case authEqualFold(name, "auth-error-code"):
			out.ErrorCode = authString(value, prev.errcode)
		case authEqualFold(name, "auth-error-sasl"):
			out.ErrorSASL = string(value)
		}
	case len("Auth-Cache-Valid"):
		if authEqualFold(name, "auth-cache-valid") {
			if n, ok := authAtoi(value); ok {
				out.CacheValid = n
				out.HasCacheValid = true
			}
		}
	}
}

// authString returns v as a string, reusing prev when equal (no allocation).
func authString(v []byte, prev string) string {
	if string(v) == prev {
		return prev
	}
	return string(v)
}

// authAtoi is nginx's ngx_atoi: one or more decimal digits, no sign, no
// overflow.
func authAtoi[T string | []byte](s T) (int, bool) {
	if len(s) == 0 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<31-1-9)/10 { // keep well inside int on every platform
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func authAlnum(c byte) bool {
	l := c | 0x20
	return (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9')
}

// authEqualFold compares name with an all-lowercase ASCII lower.
func authEqualFold(name []byte, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c |= 0x20
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

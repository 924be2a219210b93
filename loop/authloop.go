package loop

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"mailproxy/codec"
)

// auth_http on the event loop.
//
// With gnetraw (gnetraw.go), a session's auth_http request goes out on a
// connection owned by the session's own loop, as nginx does it: no worker
// goroutine, no Go poller, no thread hand-off between the client's login
// command and the backend connect (two context switches per login less;
// bench/RESULTS.md). Each loop keeps its own keepalive connections to each
// endpoint; the request is byte for byte the one the fasthttp path sends
// (HTTP/1.1, Host, then codec.AppendAuthHeaders), and the answer is judged
// by the same parser (codec.ParseAuthResponse).
//
// A connection is reused when the answer was HTTP/1.1 with a
// Content-Length and no "Connection: close" (its body is read and
// dropped); anything else (HTTP/1.0, no status line, chunked, close) is
// closed after the header block, as nginx closes every auth connection. A
// request that finds its kept-alive connection closed by the server before
// any byte of the answer is sent once more on a new connection.
//
// AuthClient.Do (fasthttp, in the worker Pool) stays for endpoints given
// by host name (fasthttp resolves them per dial) and when gnetraw is off.

// authLoopMaxConns caps the connections one loop opens to one endpoint;
// calls beyond it wait for a free connection (within auth_http_timeout).
const authLoopMaxConns = 256

// authLoopPool is one loop's connections to one endpoint. Loop-owned.
type authLoopPool struct {
	ac    *AuthClient
	ls    *loopState
	re    *rawEngine
	sa    unix.Sockaddr // the loop's own copy: connect(2) writes into it
	idle  []*authLoopConn
	open  int
	queue []*authCall
	// retired: the endpoint left the configuration; connections close
	// when their call is done.
	retired bool
}

// authLoopConn is one connection to the auth server, the gnet context of
// its conn. Loop-owned.
type authLoopConn struct {
	pool   *authLoopPool
	c      gnet.Conn // nil until OnOpen
	call   *authCall // the request in flight, nil when idle
	served int       // answers read on this connection
	drain  int       // body bytes still to drop before it is idle
	closed bool
}

// authCall is one auth_http request of a session. Loop-owned.
type authCall struct {
	s        *session
	req      *codec.AuthRequest
	buf      []byte // the request bytes
	started  time.Time
	needPass bool
	conn     *authLoopConn // nil while queued
	got      bool          // some answer bytes arrived
	retried  bool
}

// Sub-state of PhaseAuth while the call is in flight (see authStateWaitRetry).
const authStateCall uint8 = 210

// authLoopTarget is where an AuthClient's connections go when the loop
// makes them itself: a literal IP and port, or a unix socket path.
type authLoopTarget struct {
	ok      bool
	family  int
	sa      unix.Sockaddr
	network string
}

// sockaddr returns a new copy of the target's address: x/sys/unix encodes
// a Sockaddr into a buffer inside it on every Connect, so loops must not
// share one.
func (t authLoopTarget) sockaddr() unix.Sockaddr {
	switch a := t.sa.(type) {
	case *unix.SockaddrInet4:
		return &unix.SockaddrInet4{Port: a.Port, Addr: a.Addr}
	case *unix.SockaddrInet6:
		return &unix.SockaddrInet6{Port: a.Port, Addr: a.Addr}
	case *unix.SockaddrUnix:
		return &unix.SockaddrUnix{Name: a.Name}
	}
	return nil
}

// authLoopTargetOf parses addr ("ip:port" or "unix:/path"); a host name
// leaves the endpoint to fasthttp.
func authLoopTargetOf(addr string) authLoopTarget {
	if len(addr) > 5 && addr[:5] == "unix:" {
		return authLoopTarget{ok: true, family: unix.AF_UNIX, sa: &unix.SockaddrUnix{Name: addr[5:]}, network: "unix"}
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return authLoopTarget{}
	}
	if a := ap.Addr().Unmap(); a.Is4() {
		return authLoopTarget{ok: true, family: unix.AF_INET, network: "tcp",
			sa: &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}}
	}
	if ap.Addr().Zone() != "" {
		return authLoopTarget{}
	}
	return authLoopTarget{ok: true, family: unix.AF_INET6, network: "tcp",
		sa: &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}}
}

// authLoopEnabled turns on the loop-native auth_http client. The design
// fixes fasthttp (with keepalive) as the auth_http client, so that is the
// default; MAILPROXY_AUTHLOOP=on runs the calls on the event loops instead
// (about 12% less CPU per login, bench/RESULTS.md "Optimisation"), for
// measurement. Both send the same bytes and judge answers with the same
// parser.
var authLoopEnabled = os.Getenv("MAILPROXY_AUTHLOOP") == "on"

// authOnLoop reports whether s's auth_http calls run on its loop.
func (s *session) authOnLoop() bool {
	return authLoopEnabled && s.loop.raw != nil && s.srv.auth.target.ok
}

// authLoopStart sends req for s from its loop. Called on the loop, in
// PhaseAuth.
func (s *session) authLoopStart(req *codec.AuthRequest, needPass bool) {
	ac := s.srv.auth
	b := make([]byte, 0, 256)
	b = append(b, "GET "...)
	b = append(b, ac.uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, ac.host...)
	b = append(b, "\r\n"...)
	b = codec.AppendAuthHeaders(b, req, s.srv.cfg.AuthHTTPHeaders)
	b = append(b, "\r\n"...)
	call := &authCall{s: s, req: req, buf: b, started: time.Now(), needPass: needPass}
	s.authCall = call
	s.state = authStateCall
	s.loop.arm(s, call.started.Add(s.srv.cfg.AuthHTTPTimeout).UnixNano())
	s.loop.authPool(ac, s.srv.rt.raw).dispatch(call)
}

// authPool returns the loop's pool for ac, making it on first use.
func (ls *loopState) authPool(ac *AuthClient, re *rawEngine) *authLoopPool {
	if p := ls.authPools[ac]; p != nil {
		return p
	}
	if ls.authPools == nil {
		ls.authPools = map[*AuthClient]*authLoopPool{}
	}
	p := &authLoopPool{ac: ac, ls: ls, re: re, sa: ac.target.sockaddr()}
	ls.authPools[ac] = p
	ac.addLoopPool(p)
	return p
}

// dispatch gives call a connection: an idle one, a new one, or a place in
// the queue.
func (p *authLoopPool) dispatch(call *authCall) {
	if n := len(p.idle); n > 0 && !call.retried {
		conn := p.idle[n-1]
		p.idle = p.idle[:n-1]
		conn.call, call.conn = call, conn
		_, _ = conn.c.Write(call.buf) // a failure closes conn: onClose retries
		return
	}
	if p.open >= authLoopMaxConns {
		p.queue = append(p.queue, call)
		return
	}
	p.connect(call)
}

// connect opens a connection for call; the request goes out in OnOpen.
func (p *authLoopPool) connect(call *authCall) {
	t := p.ac.target
	fd, err := unix.Socket(t.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		if t.family != unix.AF_UNIX {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
		if err = unix.Connect(fd, p.sa); err == unix.EINPROGRESS || err == unix.EAGAIN {
			err = nil // unix sockets say EAGAIN when the backlog is full
		}
		if err != nil {
			_ = unix.Close(fd)
		}
	}
	if err != nil {
		call.fail(&authError{msg: "auth http server " + p.ac.addr + " " + ErrAuthConnect.Error() + " (connect: " + err.Error() + ")",
			errs: []error{ErrAuthConnect, err}})
		return
	}
	p.ac.opened.Add(1)
	p.open++
	conn := &authLoopConn{pool: p, call: call}
	call.conn = conn
	var remote net.Addr
	if t.family == unix.AF_UNIX {
		remote = &net.UnixAddr{Name: p.ac.addr[5:], Net: "unix"}
	} else {
		remote = rawSockaddrAddr(p.sa)
	}
	if err := p.re.register(p.ls.raw, fd, t.network, nil, nil, remote, conn); err != nil {
		// register0 closed fd and called no callback.
		p.open--
		call.conn = nil
		call.fail(&authError{msg: "auth http server " + p.ac.addr + " " + ErrAuthConnect.Error() + " (" + err.Error() + ")",
			errs: []error{ErrAuthConnect, err}})
	}
}

// opened runs in the connection's OnOpen: the request goes out with it.
func (conn *authLoopConn) opened(c gnet.Conn) []byte {
	conn.c = c
	if conn.call == nil {
		return nil
	}
	return conn.call.buf
}

// onData reads the answer of the call in flight. Called from OnTraffic.
func (conn *authLoopConn) onData() gnet.Action {
	c := conn.c
	if conn.drain > 0 {
		n := min(conn.drain, c.InboundBuffered())
		_, _ = c.Discard(n)
		conn.drain -= n
		if conn.drain > 0 {
			return gnet.None
		}
		conn.pool.release(conn)
	}
	if c.InboundBuffered() == 0 {
		return gnet.None
	}
	call := conn.call
	if call == nil {
		return gnet.Close // bytes nobody asked for
	}
	call.got = true
	buf, _ := c.Peek(-1)
	end := authHeaderEnd(buf)
	if end < 0 {
		if len(buf) >= codec.AuthMaxResponse {
			conn.call = nil
			call.fail(&authError{msg: "auth http server " + conn.pool.ac.addr + " " + codec.ErrAuthTooLarge.Error(),
				errs: []error{codec.ErrAuthTooLarge}})
			return gnet.Close
		}
		return gnet.None // wait for the rest of the header block
	}
	var out codec.AuthResponse
	perr := codec.ParseAuthResponse(buf[:end], &out)
	clen, keep := authKeepAlive(buf[:end])
	_, _ = c.Discard(end)
	conn.call = nil
	conn.served++
	action := gnet.Close
	if perr == nil && keep && !conn.pool.retired {
		n := min(clen, c.InboundBuffered())
		_, _ = c.Discard(n)
		conn.drain = clen - n
		if conn.drain == 0 {
			conn.pool.release(conn)
		}
		action = gnet.None
	}
	if perr != nil {
		call.fail(&authError{msg: "auth http server " + conn.pool.ac.addr + " " + perr.Error(), errs: []error{perr}})
	} else {
		call.finish(&out, nil)
	}
	return action
}

// release makes conn idle, or gives it to the next queued call.
func (p *authLoopPool) release(conn *authLoopConn) {
	if conn.closed {
		return
	}
	if p.retired {
		conn.closed = true
		_ = conn.c.Close()
		return
	}
	for len(p.queue) > 0 {
		call := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if call.s.authCall != call {
			continue // timed out or abandoned while queued
		}
		conn.call, call.conn = call, conn
		_, _ = conn.c.Write(call.buf)
		return
	}
	p.idle = append(p.idle, conn)
}

// onClose handles the connection going away. Called from OnClose, before
// gnet closes the fd.
func (conn *authLoopConn) onClose(err error) {
	p := conn.pool
	conn.closed = true
	p.open--
	for i, ic := range p.idle {
		if ic == conn {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			break
		}
	}
	call := conn.call
	conn.call = nil
	if call == nil {
		p.startQueued()
		return
	}
	call.conn = nil
	peer := "auth http server " + p.ac.addr
	var cause error
	if conn.c != nil {
		if v, gerr := unix.GetsockoptInt(conn.c.Fd(), unix.SOL_SOCKET, unix.SO_ERROR); gerr == nil && v != 0 {
			cause = unix.Errno(v)
		}
	}
	var se *os.SyscallError
	if cause == nil && errors.As(err, &se) {
		cause = se.Err
	}
	switch {
	case conn.served == 0 && !call.got && authConnectRefused(cause):
		call.fail(&authError{msg: peer + " " + ErrAuthConnect.Error() + " (connect: " + cause.Error() + ")",
			errs: []error{ErrAuthConnect, cause}})
	case !call.got && !call.retried:
		// A kept-alive connection the server had closed (or a new one
		// closed at once: the two look alike): once more, on a new one,
		// as the fasthttp path does.
		call.retried = true
		p.dispatch(call)
	default:
		// What arrived is judged by nginx's rules; an unfinished header
		// block is a premature close.
		var out codec.AuthResponse
		if call.got && conn.c != nil {
			buf, _ := conn.c.Peek(-1)
			if perr := codec.ParseAuthResponse(buf, &out); perr != nil && !errors.Is(perr, codec.ErrAuthInvalidResponse) {
				call.fail(&authError{msg: peer + " " + perr.Error(), errs: []error{perr}})
				break
			}
		}
		call.fail(&authError{msg: peer + " " + ErrAuthClosed.Error(), errs: []error{ErrAuthClosed, err}})
	}
	p.startQueued()
}

// startQueued opens a connection for the first queued call when a slot
// freed up.
func (p *authLoopPool) startQueued() {
	for len(p.queue) > 0 && p.open < authLoopMaxConns {
		call := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if call.s.authCall == call {
			p.connect(call)
		}
	}
}

// authConnectRefused: the connection was never made.
func authConnectRefused(err error) bool {
	var en unix.Errno
	if !errors.As(err, &en) {
		return false
	}
	switch en {
	case unix.ECONNREFUSED, unix.ENETUNREACH, unix.EHOSTUNREACH, unix.ETIMEDOUT, unix.ENOENT, unix.EACCES:
		return true
	}
	return false
}

// abandon drops the call of a session that goes away. Called on the loop.
func (call *authCall) abandon() {
	if call.s.authCall == call {
		call.s.authCall = nil
	}
	if conn := call.conn; conn != nil {
		call.conn = nil
		conn.call = nil
		if !conn.closed && conn.c != nil {
			// Its answer may still come: the connection cannot be reused.
			conn.closed = true
			_ = conn.c.Close()
		}
	}
	// A queued call is skipped when its turn comes (s.authCall != call).
}

// timedOut ends a call that auth_http_timeout caught. Called on the loop
// from the session's timer.
func (call *authCall) timedOut() {
	call.abandon()
	call.fail(&authError{msg: "auth http server " + call.s.srv.auth.addr + " timed out", errs: []error{errAuthTimeout}})
}

// fail ends the call with an internal error.
func (call *authCall) fail(err error) { call.finish(nil, err) }

// finish hands the answer to the session, as the worker path does.
func (call *authCall) finish(out *codec.AuthResponse, err error) {
	s := call.s
	if s.authCall == call {
		s.authCall = nil
	}
	if s.closed {
		return
	}
	if s.state == authStateCall {
		s.state = 0
	}
	s.loop.disarm(s)
	srv := s.srv
	o := &authOutcome{err: err}
	if out != nil {
		o.resp = *out
	}
	r := &o.resp
	if err == nil && !r.Wait && (r.OK || r.Status == "") {
		srv.stats.AuthDone("ok", time.Since(call.started))
		if bctx, msg := s.checkBackend(r, call.req, call.needPass); msg != "" {
			o.msg = msg
		} else {
			o.backend = bctx
		}
	} else {
		result := "fail"
		switch {
		case err != nil:
			result = "error"
			if errors.Is(err, errAuthTimeout) {
				result = "timeout"
			}
		case r.Wait:
			result = "wait"
		}
		srv.stats.AuthDone(result, time.Since(call.started))
	}
	s.authDone(o)
}

// authHeaderEnd returns the length of the header block at the start of b
// (status line and headers up to and including the blank line; lines end
// with LF, an optional CR before it), or -1 if b holds no blank line yet.
func authHeaderEnd(b []byte) int {
	start := 0
	for i, c := range b {
		if c != '\n' {
			continue
		}
		line := b[start:i]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			return i + 1
		}
		start = i + 1
	}
	return -1
}

// authKeepAlive reads what decides reuse from a header block: the body
// length, and whether the connection stays open (HTTP/1.1 status line,
// Content-Length, no "Connection: close", no Transfer-Encoding).
func authKeepAlive(h []byte) (clen int, keep bool) {
	const v11 = "HTTP/1.1 "
	if len(h) < len(v11) || string(h[:len(v11)]) != v11 {
		return 0, false
	}
	clen = -1
	start := 0
	for i, c := range h {
		if c != '\n' {
			continue
		}
		line := h[start:i]
		start = i + 1
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		name, value, ok := authCutHeader(line)
		if !ok {
			continue
		}
		switch {
		case authEqualFold(name, "content-length"):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || n > authMaxBody {
				return 0, false
			}
			clen = n
		case authEqualFold(name, "connection"):
			if authEqualFold(value, "close") {
				return 0, false
			}
		case authEqualFold(name, "transfer-encoding"):
			return 0, false
		}
	}
	return clen, clen >= 0
}

func authCutHeader(line []byte) (name, value []byte, ok bool) {
	for i, c := range line {
		if c == ':' {
			v := line[i+1:]
			for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
				v = v[1:]
			}
			for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
				v = v[:len(v)-1]
			}
			return line[:i], v, true
		}
	}
	return nil, nil, false
}

// authEqualFold compares ASCII case-insensitively against a lower-case s.
func authEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// addLoopPool records a loop's pool so that Close can reach it.
func (c *AuthClient) addLoopPool(p *authLoopPool) {
	c.loopMu.Lock()
	c.loopPools = append(c.loopPools, p)
	c.loopMu.Unlock()
}

// closeLoopPools retires the loops' connections: idle ones close now,
// busy ones when their call is done. Safe from any goroutine.
func (c *AuthClient) closeLoopPools() {
	c.loopMu.Lock()
	pools := c.loopPools
	c.loopMu.Unlock()
	for _, p := range pools {
		_ = p.ls.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			p.retired = true
			for _, conn := range p.idle {
				conn.closed = true
				_ = conn.c.Close()
			}
			p.idle = nil
			return nil
		}))
	}
}

package loop

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/codec"
	"mailproxy/config"
)

// authOutcome is what a worker learned from auth_http, delivered to the
// loop with Execute. It owns its memory.
type authOutcome struct {
	resp codec.AuthResponse
	err  error
	msg  string // log text for internal errors
	// upstream is set when auth_http said OK but the backend could not be
	// reached: the session log then blames the backend, not auth.
	upstream string
	// backend is set when auth_http said OK and the loop is to connect
	// (gnetraw: dial.go), nil when the worker dialed.
	backend *backendCtx
}

// startAuth begins an authentication attempt with the credentials in s.
// Called on the loop, in pre-auth.
func (s *session) startAuth(method string) {
	s.method = method
	s.attempt++
	s.setPhase(PhaseAuth)
	// nginx does not run the pre-auth timer while auth_http works; the
	// auth client has its own deadline (auth_http_timeout).
	s.loop.disarm(s)
	s.submitAuth()
}

// submitAuth hands the auth_http request (and, on success, the backend
// dial) to the worker pool. Called on the loop.
func (s *session) submitAuth() {
	srv := s.srv
	cfg := srv.cfg
	req := &codec.AuthRequest{
		Method:     s.method,
		User:       append([]byte(nil), s.login...),
		Pass:       append([]byte(nil), s.pass...),
		Protocol:   cfg.Protocol.String(),
		Attempt:    s.attempt,
		ClientIP:   s.clientIP,
		ClientPort: s.clientPort,
	}
	if s.method == "apop" || s.method == "cram-md5" {
		req.Salt = append([]byte(nil), s.salt...)
	}
	if cfg.Protocol == config.SMTP {
		req.ClientHost = s.smtpHost() // resolver.go
	}
	if h := srv.ops.authRequest; h != nil {
		h(s, req)
	}
	s.ppAuthRequest(req) // Proxy-Protocol-* (proxyproto.go)
	s.tlsAuthFields(req)
	needPass := cfg.Protocol != config.SMTP && (s.method == "apop" || s.method == "cram-md5" || s.method == "external")
	if s.authOnLoop() {
		s.authLoopStart(req, needPass) // authloop.go
		return
	}
	el := s.loop.el
	started := time.Now()
	ok := srv.rt.pool.TrySubmit(func() {
		var out authOutcome
		out.err = srv.auth.Do(req, cfg.AuthHTTPHeaders, cfg.AuthHTTPTimeout, &out.resp)
		r := &out.resp
		r.User = append([]byte(nil), r.User...)
		r.Pass = append([]byte(nil), r.Pass...)
		if out.err == nil && !r.Wait && (r.OK || r.Status == "") {
			srv.stats.AuthDone("ok", time.Since(started))
			if bctx, msg := s.checkBackend(r, req, needPass); msg != "" {
				out.msg = msg
			} else if srv.rt.raw != nil {
				out.backend = bctx // the loop connects (dial.go)
			} else if msg := s.dialBackend(el, bctx); msg != "" {
				out.msg = msg
				out.upstream = bctx.addr
			} else {
				return // OnOpen of the backend conn takes over on the loop
			}
		} else {
			result := "fail"
			switch {
			case out.err != nil:
				result = "error"
				if errors.Is(out.err, errAuthTimeout) {
					result = "timeout"
				}
			case r.Wait:
				result = "wait"
			}
			srv.stats.AuthDone(result, time.Since(started))
		}
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			s.authDone(&out)
			return nil
		}))
	})
	if !ok {
		srv.stats.AuthDone("overload", 0)
		s.errorf("auth worker pool is full")
		s.authResult = "overload"
		s.backToPreAuth()
		srv.ops.tempFail(s)
		s.processPending()
	}
}

// errAuthTimeout lets the outcome be counted as a timeout; the auth client
// wraps its deadline errors with it when it can.
var errAuthTimeout = errors.New("auth http timed out")

// checkBackend validates an OK answer the way nginx does. Runs in a worker.
func (s *session) checkBackend(r *codec.AuthResponse, req *codec.AuthRequest, needPass bool) (*backendCtx, string) {
	peer := s.srv.cfg.AuthHTTPAddr
	if r.Server == "" || r.Port == "" {
		return nil, "auth http server " + peer + " did not send server or port"
	}
	ip := net.ParseIP(r.Server)
	if ip == nil {
		return nil, "auth http server " + peer + " sent invalid server address:\"" + r.Server + "\""
	}
	port, err := strconv.Atoi(r.Port)
	if err != nil || port < 1 || port > 65535 {
		return nil, "auth http server " + peer + " sent invalid server port:\"" + r.Port + "\""
	}
	if needPass && !r.HasPass {
		return nil, "auth http server " + peer + " did not send password"
	}
	b := &backendCtx{s: s, addr: net.JoinHostPort(ip.String(), strconv.Itoa(port))}
	if a, ok := netip.AddrFromSlice(ip); ok {
		b.ap = netip.AddrPortFrom(a.Unmap(), uint16(port))
	}
	b.login = req.User
	if r.HasUser {
		b.login = r.User
	}
	b.pass = req.Pass
	if r.HasPass {
		b.pass = r.Pass
	}
	return b, ""
}

// dialBackend connects to the backend and enrolls the conn on the client's
// loop. Runs in a worker; returns a log message on failure.
func (s *session) dialBackend(el gnet.EventLoop, b *backendCtx) string {
	srv := s.srv
	// No keepalive towards backends, as nginx: it costs four setsockopt
	// calls per login.
	d := net.Dialer{Timeout: srv.cfg.Timeout, KeepAlive: -1}
	t0 := time.Now()
	nc, err := d.Dial("tcp", b.addr)
	if err != nil {
		srv.stats.BackendConnect(time.Since(t0), dialErrKind(err))
		return "connect() to " + b.addr + " failed (" + err.Error() + ")"
	}
	srv.stats.BackendConnect(time.Since(t0), "")
	ch, err := el.Enroll(gnet.NewContext(context.Background(), b), nc)
	if err != nil {
		_ = nc.Close()
		return "cannot register upstream connection: " + err.Error()
	}
	if r := <-ch; r.Err != nil {
		return "cannot register upstream connection: " + r.Err.Error()
	}
	return ""
}

func dialErrKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "unreachable"
	}
	return "other"
}

// authDone applies a non-OK auth outcome. Called on the loop.
func (s *session) authDone(o *authOutcome) {
	if s.closed {
		return
	}
	r := &o.resp
	switch {
	case o.backend != nil:
		s.connectBackend(o.backend)
	case o.msg != "" && o.upstream != "":
		s.authResult = "ok"
		s.upstream = o.upstream
		s.errorf(o.msg)
		s.internalError("backend connect failed")
	case o.msg != "":
		s.authResult = "error"
		s.errorf(o.msg)
		s.internalError("auth error")
	case o.err != nil:
		s.authResult = "error"
		s.errorf(o.err.Error())
		s.internalError("auth error")
	case r.Wait:
		// WAIT: ask again after Auth-Wait seconds, same attempt number.
		s.failText = ""
		s.state = authStateWaitRetry
		wait := 0
		if r.HasWait && r.WaitSecs > 0 {
			wait = r.WaitSecs
		}
		s.loop.arm(s, time.Now().Add(time.Duration(wait)*time.Second).UnixNano())
	default:
		s.authResult = "fail"
		s.failText = r.Status
		s.failCode = r.ErrorCode
		s.info("client login failed: \"" + r.Status + "\"")
		if r.HasWait && r.WaitSecs > 0 {
			// nginx waits before answering, without reading the client,
			// then lets it try again.
			s.state = authStateWaitFail
			s.loop.arm(s, time.Now().Add(time.Duration(r.WaitSecs)*time.Second).UnixNano())
			return
		}
		s.srv.ops.authFailed(s)
		s.close("auth failed")
	}
}

// Sub-states of PhaseAuth while a timer runs.
const (
	authStateWaitRetry uint8 = 200 + iota
	authStateWaitFail
)

// authDelayDone runs when an Auth-Wait / WAIT delay has passed.
func (s *session) authDelayDone() {
	switch s.state {
	case authStateCall:
		if s.authCall != nil {
			s.authCall.timedOut() // authloop.go
		}
	case authStateWaitRetry:
		s.state = 0
		s.submitAuth()
	case authStateWaitFail:
		s.state = 0
		s.backToPreAuth()
		s.srv.ops.authFailed(s)
		if s.closed {
			return
		}
		s.processPending()
	}
}

// backToPreAuth returns a session to the start of pre-auth after a failed
// attempt the client may repeat.
func (s *session) backToPreAuth() {
	s.setPhase(PhasePreAuth)
	s.state = 0
	wipe(s.pass)
	s.pass = s.pass[:0]
	s.armTimeout()
	s.resumeRead(true)
	if s.srv.rt.draining.Load() {
		s.goodbye()
	}
}

// processPending parses input the client pipelined while the session was
// busy: gnet does not call OnTraffic again for bytes it already holds.
func (s *session) processPending() {
	if s.closed || s.client == nil || s.inBuffered() == 0 {
		return
	}
	s.srv.ops.clientData(s)
}

// clientBuffer is the protocol's client command buffer size.
func (s *session) clientBuffer() int {
	c := s.cfg()
	switch c.Protocol {
	case config.POP3:
		return c.POP3ClientBuffer
	case config.SMTP:
		return c.SMTPClientBuffer
	}
	return c.IMAPClientBuffer
}

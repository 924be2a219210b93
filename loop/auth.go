package loop

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/codec"
	"mailproxy/config"
	"mailproxy/loop/authhttp"
)

// auth_http from the session's side. The call itself (fasthttp, keepalive,
// nginx's rules for the answer) is loop/authhttp's; it blocks, so it runs
// in a Pool worker. The worker gets plain values (the request, the
// endpoint's client, the timeout) and touches no session: the answer comes
// back to the loop with Execute, and everything that follows (validation,
// the backend connect, the reply) happens there.

// authOutcome is what a worker learned from auth_http, delivered to the
// loop with Execute. It owns its memory.
type authOutcome struct {
	req     *codec.AuthRequest
	resp    codec.AuthResponse
	err     error
	elapsed time.Duration
	peer    string // the auth server that answered ("host:port"), for log lines

	cache authCacheRef // auth_http_cache (authcache.go)
}

// startAuth begins an authentication attempt with the credentials in s.
// It reports whether the caller, a pre-auth command parser, should go on
// parsing: only when the attempt was refused at once (the worker pool
// full) and the session is back in pre-auth. The parser has not consumed
// the command yet, so nothing here may parse the client's input itself.
// Called on the loop, in pre-auth.
func (s *session) startAuth(method string) bool {
	s.method = method
	s.attempt++
	s.setPhase(PhaseAuth)
	// nginx does not run the pre-auth timer while auth_http works; the
	// auth client has its own deadline (auth_http_timeout).
	s.loop.disarm(s)
	s.limitLeavePreauth()     // edge.go
	if s.limitAuthRefused() { // banned: no auth_http call
		return false
	}
	if s.submitAuth() {
		return false
	}
	return s.phase == PhasePreAuth && !s.closed
}

// submitAuth hands the auth_http request to the worker pool (or answers it
// from the auth cache). It reports false when the pool was full: the
// session is then back in pre-auth with the temporary failure sent.
// Called on the loop.
func (s *session) submitAuth() bool {
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
	if h := srv.ops.authRequest; h != nil {
		h(s, req)
	}
	s.ppAuthRequest(req) // Proxy-Protocol-* (proxyproto.go)
	s.tlsAuthFields(req)

	s.wait = waitAuth
	el := s.loop.el
	cref, hit := s.authCacheLookup(req) // authcache.go: a hit is answered on the loop
	if hit {
		return true
	}
	ac, headers, timeout := srv.auth, cfg.AuthHTTPHeaders, cfg.AuthHTTPTimeout
	ok := srv.rt.pool.TrySubmit(func() {
		out := &authOutcome{req: req, cache: cref}
		started := time.Now()
		out.peer, out.err = authCall(ac, req, headers, timeout, &out.resp)
		out.elapsed = time.Since(started)
		r := &out.resp
		r.User = append([]byte(nil), r.User...)
		r.Pass = append([]byte(nil), r.Pass...)
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			// Not onLoop: a closed session still counts the answer.
			defer s.recoverPanic("auth_http answer")
			s.authDone(out)
			return nil
		}))
	})
	if !ok {
		s.wait = waitNone
		srv.stats.AuthDone("overload", 0)
		s.errorf("auth worker pool is full")
		s.authResult = "overload"
		s.backToPreAuth()
		srv.ops.tempFail(s)
		return false
	}
	return true
}

// authCall makes one auth_http call in a worker. A panic inside the
// client is that login's internal error, not the end of the process.
func authCall(ag *authhttp.Group, req *codec.AuthRequest, headers []config.Header, timeout time.Duration, out *codec.AuthResponse) (peer string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = workerPanic("auth_http call", p)
		}
	}()
	c, err := ag.Do(req, headers, timeout, out)
	return c.Addr(), err
}

// authResultOf is the auth_http result label of an outcome.
func authResultOf(o *authOutcome) string {
	r := &o.resp
	switch {
	case o.err != nil:
		if errors.Is(o.err, authhttp.ErrTimeout) {
			return "timeout"
		}
		return "error"
	case r.Wait:
		return "wait"
	case r.OK || r.Status == "":
		return "ok"
	}
	return "fail"
}

// authDone applies an auth outcome. Called on the loop.
func (s *session) authDone(o *authOutcome) {
	result := authResultOf(o)
	if !o.cache.hit {
		s.srv.stats.AuthDone(result, o.elapsed)
	}
	s.authCachePut(o, result) // authcache.go
	if s.closed || s.wait != waitAuth {
		return
	}
	s.wait = waitNone
	r := &o.resp
	switch result {
	case "ok":
		s.limitAuthResult(true) // edge.go
		b, msg := s.backendFor(r, o.req, o.peer)
		if msg != "" {
			s.authResult = "error"
			s.errorf(msg)
			s.internalError("auth error")
			return
		}
		s.connectBackend(b) // dial.go
	case "error", "timeout":
		s.authResult = "error"
		s.errorf(o.err.Error())
		s.internalError("auth error")
	case "wait":
		// WAIT: ask again after Auth-Wait seconds, same attempt number.
		s.failText = ""
		s.wait = waitAuthRetry
		wait := 0
		if r.HasWait && r.WaitSecs > 0 {
			wait = r.WaitSecs
		}
		s.loop.arm(s, time.Now().Add(time.Duration(wait)*time.Second).UnixNano())
	default:
		s.authResult = "fail"
		s.failText = r.Status
		s.failCode = r.ErrorCode
		s.saslErr = ""
		if oauthMethod(s.method) {
			s.saslErr = r.ErrorSASL
		}
		s.limitAuthResult(false) // edge.go: Auth-Wait answers count too
		s.info("client login failed: \"" + printable([]byte(r.Status)) + "\"")
		if r.HasWait && r.WaitSecs > 0 {
			// nginx waits before answering, without reading the client,
			// then lets it try again.
			s.wait = waitAuthFail
			s.loop.arm(s, time.Now().Add(time.Duration(r.WaitSecs)*time.Second).UnixNano())
			return
		}
		if s.saslErr != "" {
			// The error challenge now, the failure reply after the
			// client's dummy response, then the close.
			s.backToPreAuth()
			s.saslOAuthError(s.srv.ops.sasl, s.saslErr, false)
			s.processPending()
			return
		}
		s.srv.ops.authFailed(s)
		s.close("auth failed")
	}
}

// backendFor validates an OK answer the way nginx does (the one check is
// codec.AuthResponse.Backend) and returns what the backend login needs,
// or nginx's log line. Called on the loop.
func (s *session) backendFor(r *codec.AuthResponse, req *codec.AuthRequest, server string) (*backendCtx, string) {
	peer := "auth http server " + server + " "
	ap, err := r.Backend()
	if err != nil {
		return nil, peer + err.Error()
	}
	if s.srv.ops.needsPass(s.method) && !r.HasPass {
		return nil, peer + "did not send password"
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	b := &backendCtx{s: s, ap: ap, addr: ap.String(), login: req.User, pass: req.Pass}
	if r.HasUser {
		b.login = r.User
	}
	if r.HasPass {
		b.pass = r.Pass
	} else if oauthMethod(s.method) {
		// No master password: the backend gets the same mechanism and
		// the client's token.
		b.oauth = true
	}
	return b, ""
}

// authDelayDone runs when an Auth-Wait / WAIT delay has passed.
func (s *session) authDelayDone() {
	switch s.wait {
	case waitAuthRetry:
		s.wait = waitNone
		if !s.submitAuth() {
			// From a timer, not a parser: what the client pipelined may
			// be read now.
			s.processPending()
		}
	case waitAuthFail:
		s.wait = waitNone
		s.backToPreAuth()
		if s.saslErr != "" && !s.closed {
			s.saslOAuthError(s.srv.ops.sasl, s.saslErr, true)
			s.processPending()
			return
		}
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
	s.sasl = saslNone
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
	return s.srv.ops.clientBuffer(s.cfg())
}

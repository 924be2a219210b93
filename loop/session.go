package loop

import (
	"context"
	"log/slog"
	"time"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/config"
	"mailproxy/loop/limits"
	"mailproxy/loop/mailtls"
)

// session is one client connection and, once logged in, its backend
// connection. It belongs to one event loop (see doc.go): no field is
// touched from any other goroutine.
type session struct {
	id     uint64
	srv    *serverRT
	loop   *loopState
	client gnet.Conn
	// backend is set in the backend's OnOpen, on the same loop.
	backend gnet.Conn

	prev, next *session // the loop's session list

	// Small fields are grouped to keep session in the 240-byte size
	// class: idle connections pay for every byte of it.
	closed bool
	phase  Phase
	wait   waitState // what the session waits for outside its dialogue
	// relay
	clientPaused, backendPaused bool
	flushing                    bool // backend gone, delivering the rest to the client
	inPausedList                bool
	// backendOAuth: log in at the backend with the client's OAuth
	// mechanism and token (auth_http sent no Auth-Pass; backend.go).
	backendOAuth bool

	clientAddr string // "ip:port", captured on open
	clientIP   string
	clientHost string // SMTP: Client-Host / XCLIENT NAME= (resolver.go); "" until known
	clientPort int
	start      int64 // unix nanos; an int64 keeps session in a smaller size class

	errors  int // parser errors, for max_errors
	attempt int // Auth-Login-Attempt

	// The login's state (credentials, protocol dialogue, backend login),
	// promoted from a struct allocated on the first command (sessionAuth
	// below).
	*sessionAuth

	// TLS state of the client and backend sides (tls.go), nil for plain.
	tls, btls *mailtls.Conn

	// pp is the incoming PROXY protocol state (proxyproto.go); nil on
	// listeners without proxy_protocol.
	pp *ppState

	// lim is what the session holds in the edge-defence counts (edge.go);
	// nil when it holds nothing.
	lim *limits.Hold

	// timers (clock.go)
	deadline  int64
	timerSlot int // 1 + index of s's entry in the loop's timer heap; 0 = none

	// relay
	bytesToBackend, bytesToClient uint64
}

// sessionAuth is the part of a session that only a client who talks
// needs: idle pre-auth connections are the common case at an ISP edge, and
// without these fields a session takes 240 bytes instead of 576. Its
// fields are promoted into session, so protocol code reads s.login, s.tag
// and so on.
//
// Invariant: s.sessionAuth is non-nil before any protocol code runs.
// openClient allocates it at once for every listener except plain IMAP
// (no TLS, no PROXY header), whose greeting needs none of it; there the
// client's first OnTraffic allocates it. Code that may run before the
// first client byte on such a session (timers, close, drain) must check
// s.sessionAuth for nil.
type sessionAuth struct {
	// Credentials, copied out of gnet's buffers into session memory.
	login   []byte
	pass    []byte
	method  string // Auth-Method
	salt    []byte
	scratch []byte // decoding scratch for SASL

	// The protocol's own dialogue state: one of these is used, by the
	// protocol the listener speaks.
	sasl saslStep   // sasl.go: the SASL response awaited, if any
	imap *imapState // imap.go; allocated at the first command
	pop3 pop3State  // pop3.go
	smtp smtpState  // smtp.go

	// backend login
	upstream     string
	backendLogin []byte // what the backend logs in as (Auth-User override)
	backendPass  []byte

	// auth result kept for the failure reply after Auth-Wait
	failText string
	failCode string
	saslErr  string // Auth-Error-SASL, the OAuth error challenge (sasl.go)

	// for the session line
	closeReason string
	authResult  string
}

// waitState is what a session waits for outside its protocol's dialogue
// and its phase's normal course. Each protocol's own steps are typed in
// its file (imapBackendStep, pop3Step, smtpStep, ...), the SASL step in
// sasl.go.
type waitState uint8

const (
	waitNone        waitState = iota
	waitProxyHeader           // pre-auth: the PROXY header (proxyproto.go); nothing sent yet
	waitResolver              // pre-auth, SMTP: the client lookups (resolver.go); not greeted, not read
	waitAuth                  // PhaseAuth: the auth_http call is in flight (auth.go)
	waitAuthRetry             // PhaseAuth: WAIT; the timer asks again
	waitAuthFail              // PhaseAuth: Auth-Wait before the failure reply
)

func (s *session) log() *slog.Logger { return s.srv.log }

// logAttrs is the fixed context nginx appends to every session line.
func (s *session) logAttrs() []any {
	a := []any{"conn", s.id, "client", s.clientIP, "server", s.srv.listen}
	if s.sessionAuth == nil {
		return a
	}
	if len(s.login) > 0 {
		a = append(a, "login", string(s.login))
	}
	if s.upstream != "" {
		a = append(a, "upstream", s.upstream)
	}
	return a
}

// info and errorf build their attributes only when the line is wanted:
// at the default level (error) an info line per login would otherwise cost
// a dozen allocations for nothing.
func (s *session) info(msg string, kv ...any) {
	if s.infoEnabled() {
		s.srv.log.Info(msg, append(s.logAttrs(), kv...)...)
	}
}

func (s *session) infoEnabled() bool {
	return s.srv.log.Enabled(context.Background(), slog.LevelInfo)
}

func (s *session) errorf(msg string, kv ...any) {
	if s.srv.log.Enabled(context.Background(), slog.LevelError) {
		s.srv.log.Error(msg, append(s.logAttrs(), kv...)...)
	}
}

func (s *session) cfg() *config.Server { return s.srv.cfg }

// setPhase moves the session to p, keeping the by-phase gauges right.
func (s *session) setPhase(p Phase) {
	if s.phase == p {
		return
	}
	s.srv.stats.Leave(s.phase)
	s.phase = p
	s.srv.stats.Enter(p)
}

// write sends b to the client. It may run OnClose re-entrantly (gnet-notes
// §11.5): callers re-check s.closed afterwards.
func (s *session) write(b []byte) {
	if s.closed || s.client == nil || len(b) == 0 {
		return
	}
	if s.tls != nil {
		s.tlsWrite(b)
		return
	}
	_, _ = s.client.Write(b)
}

// armTimeout (re)starts the pre-relay timer (`timeout`).
func (s *session) armTimeout() {
	s.loop.arm(s, time.Now().Add(s.cfg().Timeout).UnixNano())
}

// onTimer runs when the session's deadline passes. Called on the loop.
func (s *session) onTimer() {
	switch s.phase {
	case PhaseAuth:
		// Auth-Wait or WAIT delay finished.
		s.authDelayDone()
	case PhaseRelay:
		if s.flushing {
			s.close("upstream closed, client too slow")
			return
		}
		s.srv.stats.Timeout(PhaseRelay)
		s.info("client timed out while proxying")
		s.close("proxy_timeout")
	case PhaseBackendLogin:
		if s.backendDialTimedOut() { // dial.go
			return
		}
		s.srv.stats.Timeout(PhaseBackendLogin)
		s.errorf("upstream timed out while logging in")
		s.internalError("upstream timeout")
	default:
		if h := s.srv.ops.onTimer; h != nil && h(s) {
			return
		}
		// nginx closes silently on a pre-auth timeout: no BYE, no 421.
		s.srv.stats.Timeout(s.phase)
		s.info("client timed out")
		s.close("timeout")
	}
}

// close ends the session: both connections are closed and the session is
// logged once. Safe to call more than once. Called on the loop.
func (s *session) close(reason string) {
	if s.closed {
		return
	}
	s.closed = true
	if s.sessionAuth == nil {
		s.sessionAuth = &sessionAuth{} // an idle connection: only for the log line
	}
	if s.srv.rt != nil && s.srv.rt.stopping.Load() {
		// The engine is closing every connection: whichever side gnet
		// closes first, the cause is the shutdown.
		reason = "shutdown"
	}
	if s.closeReason == "" {
		s.closeReason = reason
	}
	s.deadline = 0
	s.loop.unqueue(s)
	s.tlsCloseSides()
	if s.backend != nil {
		_ = s.backend.Close()
	}
	if s.client != nil {
		_ = s.client.Close()
	}
	s.finish()
}

// finish does the accounting once the session is closed.
func (s *session) finish() {
	s.loop.unlink(s)
	s.loop.raw.Sessions.Add(-1)
	st := s.srv.stats
	st.Leave(s.phase)
	if s.phase == PhaseRelay {
		st.SessionClosed(s.age())
	}
	s.srv.rt.sessions.Add(-1)
	s.limitRelease()
	if s.infoEnabled() {
		s.logDone()
	}
	if s.sessionAuth != nil {
		wipe(s.pass)
		wipe(s.backendPass)
	}
}

// age is how long the session has lived.
func (s *session) age() time.Duration {
	return max(time.Duration(time.Now().UnixNano()-s.start), 0)
}

// logDone writes the session line.
func (s *session) logDone() {
	login, upstream := "", ""
	if s.sessionAuth != nil {
		login, upstream = string(s.login), s.upstream
	}
	s.srv.log.Info("session done",
		"conn", s.id, "protocol", s.srv.cfg.Protocol.String(), "listener", s.srv.listen,
		"client", s.clientAddr, "login", login, "upstream", upstream,
		"auth", s.authResult, "bytes_in", s.bytesToBackend, "bytes_out", s.bytesToClient,
		"duration", s.age().Round(time.Millisecond).String(), "reason", s.closeReason)
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// internalError sends the protocol's internal-error line and closes.
func (s *session) internalError(reason string) {
	s.write(s.srv.ops.internalError)
	s.close(reason)
}

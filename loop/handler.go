package loop

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/loop/gnetx"
	"mailproxy/loop/stats"
)

// handler is the gnet EventHandler. Its callbacks run on event loops and
// stay thin: they find the session and hand over to the state machines.
type handler struct {
	gnet.BuiltinEventEngine
	rt     *runtimeState
	booted chan struct{}
	// rawDone receives loop/gnetx's view of the loops from the first
	// OnTick; ticked is touched only by gnet's ticker goroutine.
	rawDone chan rawResult
	ticked  bool
}

// rawResult is what the first OnTick found.
type rawResult struct {
	eng *gnetx.Engine
	err error
}

// OnTick runs once, on gnet's ticker goroutine, to find the event loops
// for loop/gnetx (gnet creates them after OnBoot); the clock (clock.go)
// does the timing.
func (h *handler) OnTick() (time.Duration, gnet.Action) {
	if !h.ticked {
		h.ticked = true
		re, err := gnetx.Init(h.rt.eng)
		h.rawDone <- rawResult{re, err}
	}
	return 24 * time.Hour, gnet.None
}

// backendCtx is the gnet context of a backend connection: the session it
// serves and what auth_http said, carried from the worker to OnOpen.
type backendCtx struct {
	s     *session
	login []byte
	pass  []byte
	addr  string

	// Set when the loop connects itself (dial.go).
	ap        netip.AddrPort
	dialStart time.Time
	dialing   bool // connect(2) in progress: no byte seen from the backend yet

	oauth bool // log in with the client's OAuth mechanism (backendFor)
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.rt.eng = eng
	close(h.booted)
	return gnet.None
}

func (h *handler) OnOpen(c gnet.Conn) (out []byte, action gnet.Action) {
	defer recoverConn(c, "OnOpen", &action)
	switch ctx := c.Context().(type) {
	case *serverRT:
		return h.openClient(c, ctx)
	case *backendCtx:
		if a := h.openBackend(c, ctx); a != gnet.None {
			return nil, a
		}
		return ctx.s.ppBackendHeader(), gnet.None // proxy_protocol on|v2 (proxyproto.go)
	case *bellRT, *authWaiter:
		return nil, gnet.None // a listener's or an auth connection's doorbell (accept.go, authwake.go)
	}
	// The placeholder listener gnet needs: nobody should be here.
	return nil, gnet.Close
}

func (h *handler) openClient(c gnet.Conn, srv *serverRT) ([]byte, gnet.Action) {
	s := &session{
		id:     h.rt.nextID.Add(1),
		srv:    srv,
		loop:   h.rt.loopOf(c),
		client: c,
		start:  time.Now().UnixNano(),
		phase:  PhasePreAuth,
	}
	if !srv.ops.lazyAuth || srv.ppExpected() || srv.tls != nil {
		s.sessionAuth = &sessionAuth{} // else at the first command (session.go)
	}
	c.SetContext(s)
	s.loop.link(s)
	s.loop.raw.Sessions.Add(1) // balances accepts (gnetx.Engine.Pick)
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		// One allocation: "ip:port", with the IP as a substring of it.
		ap := ta.AddrPort()
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		s.clientAddr = ap.String()
		s.clientPort = int(ap.Port())
		s.clientIP = s.clientAddr[:strings.LastIndexByte(s.clientAddr, ':')]
		if ap.Addr().Is6() {
			s.clientIP = s.clientIP[1 : len(s.clientIP)-1] // "[::1]"
		}
	} else if ra := c.RemoteAddr(); ra != nil {
		s.clientAddr = ra.String()
		if host, port, err := net.SplitHostPort(s.clientAddr); err == nil {
			s.clientIP = host
			s.clientPort, _ = strconv.Atoi(port)
		} else {
			s.clientIP = s.clientAddr
		}
	}
	srv.stats.Accepted()
	srv.stats.Enter(PhasePreAuth)
	if s.infoEnabled() {
		s.info("client " + s.clientAddr + " connected to " + srv.listen)
	}
	if !srv.ppExpected() && !s.limitAdmit() { // edge.go
		return nil, gnet.None
	}
	s.armTimeout()
	if srv.ppExpected() {
		// listen ... proxy_protocol: the header comes first, even before TLS (proxyproto.go).
		s.ppStart()
		return nil, gnet.None
	}
	if srv.tls != nil && srv.tls.Implicit {
		// listen ... ssl: the greeting follows the handshake.
		s.tlsStartClient(false)
		return nil, gnet.None
	}
	return srv.ops.greeting(s), gnet.None
}

func (h *handler) openBackend(c gnet.Conn, b *backendCtx) gnet.Action {
	s := b.s
	if s.closed {
		return gnet.Close
	}
	s.backend = c
	s.upstream = b.addr
	s.backendLogin = b.login
	s.backendPass = b.pass
	s.backendOAuth = b.oauth
	s.authResult = "ok"
	s.setPhase(PhaseBackendLogin)
	s.armTimeout()
	s.srv.ops.loginDone(s)
	s.tlsBackendOpened() // proxy_ssl on (tls_session.go)
	return gnet.None
}

func (h *handler) OnTraffic(c gnet.Conn) (action gnet.Action) {
	defer recoverConn(c, "OnTraffic", &action)
	switch ctx := c.Context().(type) {
	case *bellRT:
		h.rt.bellAccept(ctx, c)
		return gnet.None
	case *authWaiter:
		_, _ = c.Discard(-1)
		ctx.ring()
		return gnet.None
	case *session:
		s := ctx
		if s.closed {
			return gnet.Close
		}
		if s.sessionAuth == nil {
			s.sessionAuth = &sessionAuth{}
		}
		if s.wait == waitProxyHeader {
			s.ppClientData() // PROXY header (proxyproto.go)
			if s.closed {
				return gnet.Close
			}
			return gnet.None
		}
		if s.tls != nil && !s.tls.Ready {
			s.tlsFeedClient(c)
			if s.closed {
				return gnet.Close
			}
			return gnet.None
		}
		switch s.phase {
		case PhasePreAuth:
			s.srv.ops.clientData(s)
		case PhaseRelay:
			s.relayFromClient()
		default:
			// auth_http or backend login in flight: like nginx, do not
			// read the client; keep what it pipelines for the backend,
			// but stop reading once a command buffer's worth is queued.
			if c.InboundBuffered() > s.clientBuffer() {
				s.pauseRead(true)
			}
		}
		if s.closed {
			return gnet.Close
		}
	case *backendCtx:
		s := ctx.s
		if s.closed || s.backend != c {
			return gnet.Close
		}
		if ctx.dialing {
			s.backendConnected(ctx) // dial.go
		}
		if s.btls != nil && !s.btls.Ready {
			s.tlsFeedBackend(c)
			if s.closed {
				return gnet.Close
			}
			return gnet.None
		}
		switch s.phase {
		case PhaseBackendLogin:
			s.srv.ops.backendData(s)
		case PhaseRelay:
			s.relayFromBackend()
		}
		if s.closed {
			return gnet.Close
		}
	default:
		return gnet.Close
	}
	return gnet.None
}

func (h *handler) OnClose(c gnet.Conn, err error) (action gnet.Action) {
	defer recoverConn(c, "OnClose", &action)
	switch ctx := c.Context().(type) {
	case *authWaiter:
		ctx.gone()
	case *session:
		s := ctx
		s.client = nil
		if !s.closed {
			s.close("client closed")
		}
	case *backendCtx:
		s := ctx.s
		if s.backend != c {
			return gnet.None
		}
		if !s.closed && ctx.dialing && s.backendDialClosed(c, ctx, err) {
			return gnet.None // connect() failed (dial.go)
		}
		s.backend = nil
		if s.closed {
			return gnet.None
		}
		if s.phase == PhaseBackendLogin {
			s.errorf("upstream closed connection while logging in")
			s.internalError("upstream closed")
			return gnet.None
		}
		if s.phase == PhaseRelay && s.client != nil && s.client.OutboundBuffered() > 0 {
			// The backend's last words (a FETCH, a BYE) are still queued
			// for a slow client: deliver them before closing.
			s.flushThenClose()
			return gnet.None
		}
		s.close("upstream closed")
	}
	return gnet.None
}

// recoverConn is deferred by every gnet callback: a panic in session code
// ends that session (recover.go) and the callback returns Close for c.
func recoverConn(c gnet.Conn, where string, action *gnet.Action) {
	p := recover()
	if p == nil {
		return
	}
	if _, ok := c.Context().(*bellRT); ok {
		// A listener's doorbell stays: a panic while accepting loses
		// that connection, not the listener on this loop.
		_ = workerPanic(where+" (accept)", p)
		*action = gnet.None
		return
	}
	*action = gnet.Close
	var s *session
	switch ctx := c.Context().(type) {
	case *session:
		s = ctx
	case *backendCtx:
		s = ctx.s
	}
	if s == nil {
		stats.Panic()
		return
	}
	s.panicked(where, p)
}

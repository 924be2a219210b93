package loop

import (
	"errors"
	"os"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"mailproxy/loop/gnetx"
)

// Backend connections made by the loop itself (loop/gnetx), as nginx
// does: a non-blocking socket and connect(2), registered on the client's
// loop at once; the login dialogue starts when the backend's greeting
// arrives. No goroutine, no Go poller registration, no dup. The connect
// timeout is the session's `timeout` timer, armed in the backend's OnOpen
// (the Go dialer used the same value).

// connectBackend starts the connection to the backend auth_http named.
// Called on the loop, from authDone.
func (s *session) connectBackend(b *backendCtx) {
	if !b.ap.IsValid() {
		s.backendConnectFailed(b, "connect() to "+b.addr+" failed (invalid address)", "other")
		return
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if b.ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(b.ap.Port()), Addr: b.ap.Addr().As4()}
	} else {
		family = unix.AF_INET6
		sa6 := &unix.SockaddrInet6{Port: int(b.ap.Port()), Addr: b.ap.Addr().As16()}
		sa = sa6
	}
	b.dialStart = time.Now()
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		s.backendConnectFailed(b, "connect() to "+b.addr+" failed (socket: "+err.Error()+")", "other")
		return
	}
	// As Go's dialer did: the relay forwards small IMAP/POP3/SMTP replies
	// and should not wait for delayed ACKs.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if s.cfg().SoKeepalive {
		// The legacy so_keepalive directive (config/keepalive.go): the
		// system's keepalive times, as for the client side.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	}
	switch err := unix.Connect(fd, sa); err {
	case nil:
	case unix.EINPROGRESS, unix.EINTR:
		b.dialing = true
	default:
		_ = unix.Close(fd)
		s.backendConnectFailed(b, "connect() to "+b.addr+" failed (connect: "+err.Error()+")", dialErrKind(err))
		return
	}
	if !b.dialing {
		s.srv.stats.BackendConnect(time.Since(b.dialStart), "")
	}
	if err := s.srv.rt.raw.Register(s.loop.raw, fd, "tcp", nil, gnetx.SockaddrAddr(sa), b); err != nil {
		s.backendConnectFailed(b, "cannot register upstream connection: "+err.Error(), "")
	}
	// OnOpen (openBackend) has run: the session waits for the greeting.
}

// backendConnectFailed ends a session whose backend could not be reached;
// auth_http said OK, so the log blames the backend. kind "" does not count
// as a connect error (the connection was made, registering it failed).
func (s *session) backendConnectFailed(b *backendCtx, msg, kind string) {
	if kind != "" {
		s.srv.stats.BackendConnect(time.Since(b.dialStart), kind)
	}
	if s.closed {
		return
	}
	s.authResult = "ok"
	s.upstream = b.addr
	s.errorf(msg)
	s.internalError("backend connect failed")
}

// backendConnected records the end of a connect in progress: the backend
// sent its first bytes. Called on the loop from the backend's OnTraffic.
func (s *session) backendConnected(b *backendCtx) {
	b.dialing = false
	s.srv.stats.BackendConnect(time.Since(b.dialStart), "")
}

// backendDialClosed handles the backend closing while its connect was in
// progress: the connect failed (refused, unreachable). Reports whether it
// handled the close. Called from the backend's OnClose, before gnet closes
// the fd.
func (s *session) backendDialClosed(c gnet.Conn, b *backendCtx, err error) bool {
	if !b.dialing || s.phase != PhaseBackendLogin {
		return false
	}
	b.dialing = false
	cause := err
	if v, gerr := unix.GetsockoptInt(c.Fd(), unix.SOL_SOCKET, unix.SO_ERROR); gerr == nil && v != 0 {
		cause = unix.Errno(v)
	} else {
		var se *os.SyscallError
		if errors.As(err, &se) {
			cause = se.Err
		} else {
			// Closed with no socket error: the backend accepted and hung
			// up at once; that is a login failure, not a connect one.
			s.srv.stats.BackendConnect(time.Since(b.dialStart), "")
			return false
		}
	}
	s.backend = nil
	msg := "connect() to " + b.addr + " failed (connect: " + cause.Error() + ")"
	s.backendConnectFailed(b, msg, dialErrKind(cause))
	return true
}

// backendDialTimedOut handles the `timeout` timer firing before the
// backend connection completed. Reports whether it did.
func (s *session) backendDialTimedOut() bool {
	if s.backend == nil {
		return false
	}
	b, ok := s.backend.Context().(*backendCtx)
	if !ok || !b.dialing {
		return false
	}
	b.dialing = false
	if _, err := unix.Getpeername(s.backend.Fd()); err == nil {
		// Connected, the greeting is what is late.
		s.srv.stats.BackendConnect(time.Since(b.dialStart), "")
		return false
	}
	s.backendConnectFailed(b, "connect() to "+b.addr+" failed (i/o timeout)", "timeout")
	return true
}

// dialErrKind is the backend connect error label of err.
func dialErrKind(err error) string {
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return "refused"
	case errors.Is(err, unix.ETIMEDOUT):
		return "timeout"
	case errors.Is(err, unix.ENETUNREACH), errors.Is(err, unix.EHOSTUNREACH):
		return "unreachable"
	}
	return "other"
}

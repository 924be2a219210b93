package loop

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"mailproxy/loop/gnetx"
)

// Accepting on the event loops. Each listening socket is a bare fd owned
// by mailproxy (not gnet's, not in Go's poller): its own loop-side bell on
// every event loop (gnetx.Bell) makes a waiting connection an OnTraffic
// on a loop, which accept4(2)s it there and registers the bare fd on
// itself, so an accepted socket costs accept4 + epoll_ctl, as in nginx,
// and no thread hand-off. (Until this, an accept goroutine per listener
// waited in Go's poller and handed each socket to a loop with Execute:
// one more thread wake-up and an eventfd write per connection; see
// bench/RESULTS.md.) TCP_NODELAY is inherited from the listening socket
// (listen.go).
//
// What Go-owned listeners were for stays: an accept error (EMFILE and
// friends) takes the listener off that loop's epoll for a back-off that
// doubles to a second, instead of stopping gnet's engine as gnet's own
// acceptor does; closing a listener (drain, reload, upgrade) takes it
// off every loop under its lock, so no loop accepts on an fd number that
// has been closed and reused; reload still diffs listeners by address.
//
// Balance: EPOLLEXCLUSIVE wakes one waiting loop per connection, so an
// idle loop tends to get it; a loop that already holds two sessions more
// than the least loaded one hands the socket to that one (Execute, the
// old path) instead of keeping it.

// bellRT is one listener's doorbell on one loop: the gnet context of the
// bell's conn.
type bellRT struct {
	l       *listenerRT
	loop    *gnetx.Loop
	bell    *gnetx.Bell
	backoff time.Duration // after an accept error; the loop's own
}

// listenFD takes the socket of ln as a bare non-blocking fd and closes ln,
// which takes it out of Go's poller (where every connection would wake a
// thread for nothing). The socket lives on in the fd.
func listenFD(ln net.Listener) (int, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return -1, errors.New("listener has no socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the socket file is the fd's now
	}
	_ = ln.Close()
	return dup, nil
}

// startBells starts accepting on l on every loop and returns once every
// loop rings for it. Called on the goroutine that starts or reloads.
func (rt *runtimeState) startBells(l *listenerRT) {
	var wg sync.WaitGroup
	for _, lp := range rt.raw.Loops {
		b := &bellRT{l: l, loop: lp, backoff: acceptBackoff}
		wg.Add(1)
		err := lp.EL.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			defer wg.Done()
			bell, err := rt.raw.NewBell(lp, b)
			if err != nil {
				rt.log.Error("accept() setup failed", "server", l.srv.Load().listen, "err", err.Error())
				return nil
			}
			b.bell = bell
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.closing.Load() {
				_ = bell.Conn.Close()
				return nil
			}
			if err := bell.Ring(l.fd); err != nil {
				rt.log.Error("accept() setup failed", "server", l.srv.Load().listen, "err", err.Error())
				_ = bell.Conn.Close()
				return nil
			}
			l.bells = append(l.bells, b)
			return nil
		}))
		if err != nil {
			wg.Done()
		}
	}
	wg.Wait()
}

// stopBells stops every loop accepting on l and closes its socket.
// Called with l.closing set, on the goroutine that closes listeners.
func (rt *runtimeState) stopBells(l *listenerRT) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.bells {
		_ = b.bell.Unring(l.fd)
		b.bell.Close()
	}
	l.bells = nil
	if l.fd >= 0 {
		_ = unix.Close(l.fd)
		l.fd = -1
	}
}

// bellAccept runs on b's loop when its listener has connections waiting.
// It accepts one per wake-up, so that a connection flood cannot keep the
// loop from its sessions: the bell is level-triggered, and the rest ring
// again on the next round, which costs an epoll_wait instead of the
// accept4 that would find none. One per wake-up measured best at 2,000
// logins/s (bench/RESULTS.md): most wake-ups carry one connection.
func (rt *runtimeState) bellAccept(b *bellRT, c gnet.Conn) {
	_, _ = c.Discard(-1) // the bell's 8 bytes
	l := b.l
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closing.Load() || l.fd < 0 {
		return
	}
	// syscall's, not x/sys/unix's: the latter asks the kernel for
	// SO_PROTOCOL on every IPv4/IPv6 address it decodes.
	nfd, sa, err := syscall.Accept4(l.fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	switch err {
	case nil:
	case syscall.EAGAIN, syscall.EINTR, syscall.ECONNABORTED:
		return // none, or one gone: the bell rings again if more wait
	default:
		rt.bellFailed(b, err)
		return
	}
	b.backoff = acceptBackoff
	loc := l.local
	if l.wildcard {
		// A wildcard listener does not know the address a client
		// reached; ask the kernel (PROXY headers to backends need it).
		if lsa, err := unix.Getsockname(nfd); err == nil {
			loc = gnetx.SockaddrAddr(lsa)
		}
	}
	rt.adoptOn(l, b.loop, nfd, rawAcceptedAddr(sa), loc)
}

// acceptBackoff is the first wait after an accept error.
const acceptBackoff = 5 * time.Millisecond

// bellFailed handles an accept error (EMFILE and friends): count it, log
// it, and take the listener off this loop's epoll for b.backoff, doubling
// it up to a second; an accept that succeeds resets it. Runs on b's loop
// under l.mu (read).
func (rt *runtimeState) bellFailed(b *bellRT, err error) {
	l := b.l
	srv := l.srv.Load()
	srv.stats.Rejected("error")
	rt.log.Error("accept() failed", "server", srv.listen, "err", err.Error())
	if uerr := b.bell.Unring(l.fd); uerr != nil {
		return
	}
	wait := b.backoff
	if b.backoff < time.Second {
		b.backoff *= 2
	}
	time.AfterFunc(wait, func() {
		l.mu.RLock()
		defer l.mu.RUnlock()
		if l.closing.Load() || l.fd < 0 {
			return
		}
		for _, x := range l.bells {
			if x == b {
				_ = b.bell.Ring(l.fd)
			}
		}
	})
}

// adoptOn applies the accept-time limits to a socket accepted on loop
// here and registers it there, or on the least loaded loop when here has
// two sessions more than it. Runs on here.
func (rt *runtimeState) adoptOn(l *listenerRT, here *gnetx.Loop, fd int, remote, local net.Addr) {
	srv := l.srv.Load()
	if !rt.admit(srv) {
		_ = unix.Close(fd)
		return
	}
	to := rt.raw.PickFrom(here)
	if to == here {
		if err := rt.raw.Register(here, fd, l.network, local, remote, srv); err != nil {
			rt.sessions.Add(-1)
			srv.stats.Rejected("error")
		}
		here.Pending.Add(-1) // counted in Sessions now (openClient)
		return
	}
	t := rawAdoptPool.Get().(*rawAdoptTask)
	*t = rawAdoptTask{rt: rt, srv: srv, loop: to, fd: fd, network: l.network, local: local, remote: remote}
	if err := to.EL.Execute(context.Background(), t); err != nil {
		to.Pending.Add(-1)
		rt.sessions.Add(-1)
		srv.stats.Rejected("error")
		_ = unix.Close(fd)
		rawAdoptPool.Put(t)
	}
}

// rawAdoptTask registers one accepted socket on another loop. Tasks are
// pooled: a closure per connection was garbage that idle connections paid
// for in GC headroom.
type rawAdoptTask struct {
	rt            *runtimeState
	srv           *serverRT
	loop          *gnetx.Loop
	fd            int
	network       string
	local, remote net.Addr
}

var rawAdoptPool = sync.Pool{New: func() any { return new(rawAdoptTask) }}

// Run is called on the loop.
func (t *rawAdoptTask) Run(context.Context) error {
	if err := t.rt.raw.Register(t.loop, t.fd, t.network, t.local, t.remote, t.srv); err != nil {
		t.rt.sessions.Add(-1)
		t.srv.stats.Rejected("error")
	}
	t.loop.Pending.Add(-1) // counted in Sessions now (openClient)
	*t = rawAdoptTask{}
	rawAdoptPool.Put(t)
	return nil
}

// rawAcceptedAddr is the net.Addr of an accepted peer (see gnetx.SockaddrAddr).
func rawAcceptedAddr(sa syscall.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return gnetx.TCPAddrOf(a.Addr[:], a.Port)
	case *syscall.SockaddrInet6:
		if a.ZoneId == 0 {
			return gnetx.TCPAddrOf(a.Addr[:], a.Port)
		}
		return gnetx.SockaddrAddr(&unix.SockaddrInet6{Port: a.Port, ZoneId: a.ZoneId, Addr: a.Addr})
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}

package loop

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mailproxy/loop/gnetx"
)

// rawAccept is the accept goroutine of one listener: it waits on the listening socket through Go's poller, accept4(2)s every
// pending connection itself and registers the bare fd on a loop
// (loop/gnetx), so an accepted socket costs accept4 + epoll_ctl, as in
// nginx, instead of a net.Conn that Go registers, queries and sets options
// on, then gnet dups and Go closes. TCP_NODELAY is inherited from the
// listening socket (listen.go).
//
// A net.Listener's RawConn cannot wait (its Read is EINVAL), so the
// goroutine waits on a dup of the listening socket opened as an *os.File
// (rawListenFile), which Go's poller can wait on; closeListeners closes it.
func (rt *runtimeState) rawAccept(l *listenerRT) {
	rc, err := l.rawFile.SyscallConn()
	if err != nil {
		rt.log.Error("accept() failed", "server", l.srv.Load().listen, "err", err.Error())
		return
	}
	local := l.ln.Addr()
	network := "tcp"
	if l.network == "unix" {
		network = "unix"
	}
	// A wildcard listener does not know the address a client reached;
	// ask the kernel per connection (PROXY headers to backends need it).
	wildcard := false
	if ta, ok := local.(*net.TCPAddr); ok && (ta.IP == nil || ta.IP.IsUnspecified()) {
		wildcard = true
	}
	backoff := 5 * time.Millisecond
	for {
		var acceptErr error
		err := rc.Read(func(fd uintptr) bool {
			for {
				// syscall's, not x/sys/unix's: the latter asks the kernel
				// for SO_PROTOCOL on every IPv4/IPv6 address it decodes.
				nfd, sa, err := syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
				switch err {
				case nil:
				case syscall.EAGAIN:
					return false // wait for the next connection
				case syscall.EINTR, syscall.ECONNABORTED:
					continue
				default:
					acceptErr = err
					return true
				}
				loc := local
				if wildcard {
					if lsa, err := unix.Getsockname(nfd); err == nil {
						loc = gnetx.SockaddrAddr(lsa)
					}
				}
				rt.rawAdopt(l, nfd, network, sa, loc)
			}
		})
		if err != nil {
			// closeListeners closed the file ("use of closed file").
			if !l.closing.Load() {
				rt.log.Error("accept() failed", "server", l.srv.Load().listen, "err", err.Error())
			}
			return
		}
		if acceptErr != nil {
			rt.acceptFailed(l.srv.Load(), acceptErr, &backoff)
			continue
		}
		backoff = 5 * time.Millisecond
	}
}

// rawAdopt applies the accept-time limits to a new connection and queues
// its registration on the least loaded loop. Runs in the accept goroutine.
func (rt *runtimeState) rawAdopt(l *listenerRT, fd int, network string, sa syscall.Sockaddr, local net.Addr) {
	srv := l.srv.Load()
	if !rt.admit(srv) {
		_ = unix.Close(fd)
		return
	}
	t := rawAdoptPool.Get().(*rawAdoptTask)
	*t = rawAdoptTask{rt: rt, srv: srv, loop: rt.raw.Pick(), fd: fd, network: network,
		local: local, remote: rawAcceptedAddr(sa)}
	if err := t.loop.EL.Execute(context.Background(), t); err != nil {
		t.loop.Pending.Add(-1)
		rt.sessions.Add(-1)
		srv.stats.Rejected("error")
		_ = unix.Close(fd)
		rawAdoptPool.Put(t)
	}
}

// rawAdoptTask registers one accepted socket on its loop. Tasks are pooled:
// a closure per connection was garbage that idle connections paid for in
// GC headroom.
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

// rawListenFile dups ln's socket into a non-blocking *os.File that Go's
// poller waits on for rawAccept.
func rawListenFile(ln net.Listener) (*os.File, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, errors.New("listener has no socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	// The dup shares the listener's O_NONBLOCK, so NewFile registers it
	// with the poller.
	return os.NewFile(uintptr(dup), "listener"), nil
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

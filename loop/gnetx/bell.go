package gnetx

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Accepting on the event loops. gnet calls back only for its own conns:
// its poller hands every epoll event to the conn registered under the
// event's data (the fd gnet put there), and an event for an fd it does
// not know is deleted from the epoll set with a warning. So a listening
// socket owned by mailproxy cannot be watched by a loop directly. A Bell
// is the way round:
//
//   - a gnet conn around an eventfd in semaphore mode whose counter is
//     set to its maximum, so that it is always readable and each read
//     takes 1 from 2^64-2 (it never runs dry), and whose own fd is taken
//     out of the loop's epoll set at once (it would fire forever);
//   - the listening socket added to the same epoll set with the bell's fd
//     as the event's data (Ring), with EPOLLEXCLUSIVE so that a new
//     connection wakes one waiting loop, not every loop.
//
// When a connection is waiting, gnet reads 8 bytes from the bell and
// calls OnTraffic on it, on the loop: the handler accepts there, and the
// accept goroutine's hand-off to the loop is gone. The bell's conn is
// closed as any other (its fd no longer in the epoll set: gnet's delete
// fails quietly, the close does not).

// Bell is a doorbell on one loop: for a listening socket (Ring) or for
// one readability of a connected socket at a time (Arm).
type Bell struct {
	Conn gnet.Conn
	loop *Loop
	epfd int
	fd   int // the eventfd: kept, as Conn.Fd() of a closed conn is no use
}

// NewBell makes a doorbell on l with ctx as its gnet context. gnet's
// OnOpen runs for it. Must run on l.
func (re *Engine) NewBell(l *Loop, ctx any) (*Bell, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC|unix.EFD_SEMAPHORE)
	if err != nil {
		return nil, err
	}
	var max [8]byte
	binary.NativeEndian.PutUint64(max[:], 1<<64-2)
	if _, err := unix.Write(efd, max[:]); err != nil {
		_ = unix.Close(efd)
		return nil, err
	}
	c, err := re.register(l, efd, "tcp", nil, nil, ctx)
	if err != nil {
		return nil, err
	}
	epfd, err := EpollFd(c)
	if err == nil {
		err = unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, efd, nil)
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return &Bell{Conn: c, loop: l, epfd: epfd, fd: efd}, nil
}

// Close closes the bell's conn on its loop (gnet's OnClose runs there).
// Safe from any goroutine; a stopped engine has closed it already.
func (b *Bell) Close() {
	c := b.Conn
	_ = b.loop.EL.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		_ = c.Close()
		return nil
	}))
}

// Ring makes a connection waiting on the listening socket lfd ring b.
// Safe from any goroutine (epoll_ctl is).
func (b *Bell) Ring(lfd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(b.fd)}
	return unix.EpollCtl(b.epfd, unix.EPOLL_CTL_ADD, lfd, &ev)
}

// Unring stops lfd ringing b. Safe from any goroutine. An event already
// collected by the loop may still arrive once.
func (b *Bell) Unring(lfd int) error {
	err := unix.EpollCtl(b.epfd, unix.EPOLL_CTL_DEL, lfd, nil)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// Arm makes the next readability of the socket fd (not a listener: one
// event, then disarmed; EPOLLONESHOT) ring b. Only EPOLLIN is asked for:
// gnet would read an EPOLLRDHUP bell until its read ran dry, which an
// always-readable eventfd never does. Safe from any goroutine.
func (b *Bell) Arm(fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(b.fd)}
	err := unix.EpollCtl(b.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	if errors.Is(err, unix.ENOENT) {
		err = unix.EpollCtl(b.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	return err
}

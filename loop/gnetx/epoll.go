package gnetx

import (
	"errors"
	"reflect"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// gnet v2.9.7 has no way to stop reading a connection: whatever the kernel
// holds is read and queued, so a slow peer would make memory grow without
// bound (gnet-notes §2.5, 370 MB for four slow downloads). A source is
// paused by rewriting its epoll interest set on the loop's own epoll
// instance, whose fd EpollFd finds by reading gnet's unexported fields
// (conn.loop.poller.fd). gnet's own ModRead after it flushes output to a
// paused fd turns reading back on; callers re-pause on their next look.

// EpollFd returns the epoll fd of the loop that owns c. An error means the
// fields moved (another gnet): mailproxy refuses to start.
func EpollFd(c gnet.Conn) (int, error) {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return -1, errors.New("gnet conn is not a pointer")
	}
	loop := v.Elem().FieldByName("loop")
	if !loop.IsValid() || loop.Kind() != reflect.Pointer || loop.IsNil() {
		return -1, errors.New("gnet conn has no loop field")
	}
	poller := loop.Elem().FieldByName("poller")
	if !poller.IsValid() || poller.Kind() != reflect.Pointer || poller.IsNil() {
		return -1, errors.New("gnet eventloop has no poller field")
	}
	fd := poller.Elem().FieldByName("fd")
	if !fd.IsValid() || fd.Kind() != reflect.Int {
		return -1, errors.New("gnet poller has no fd field")
	}
	return int(fd.Int()), nil
}

// epollPathOK checks, on gnet's conn type, the field path EpollFd reads,
// so that a gnet whose fields moved fails Init rather than the first pause.
func epollPathOK(connType reflect.Type) bool {
	f, ok := connType.Elem().FieldByName("loop")
	if !ok || f.Type.Kind() != reflect.Pointer {
		return false
	}
	p, ok := f.Type.Elem().FieldByName("poller")
	if !ok || p.Type.Kind() != reflect.Pointer {
		return false
	}
	fd, ok := p.Type.Elem().FieldByName("fd")
	return ok && fd.Type.Kind() == reflect.Int
}

// SetReadInterest turns reading of c on or off on the loop's epoll. Write
// interest is kept when c has output pending, as gnet would set it (LT
// mode, which gnet uses unless WithEdgeTriggeredIO).
func SetReadInterest(epfd int, c gnet.Conn, read bool) error {
	var ev uint32
	if read {
		ev = unix.EPOLLIN | unix.EPOLLPRI
	}
	if c.OutboundBuffered() > 0 {
		ev |= unix.EPOLLOUT
	}
	fd := c.Fd()
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Fd: int32(fd), Events: ev})
}

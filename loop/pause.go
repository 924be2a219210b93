package loop

import (
	"errors"
	"reflect"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// gnet v2.9.7 has no way to stop reading a connection: whatever the kernel
// holds is read and queued, so a slow peer would make memory grow without
// bound (gnet-notes §2.5, 370 MB for four slow downloads). mailproxy pauses
// a source by rewriting its epoll interest set on the loop's own epoll
// instance, whose fd is found once per loop by reading gnet's unexported
// fields. checkPauseSupport fails start-up loudly if a gnet upgrade moved
// them.

// epollFdOf returns the epoll fd of the loop that owns c.
func epollFdOf(c gnet.Conn) (int, error) {
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

// setReadInterest turns reading of c on or off on the loop's epoll. Writing
// interest is kept when c has output pending, as gnet would set it.
func setReadInterest(epfd int, c gnet.Conn, read bool) error {
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

// pauseSide stops reading from one side of s. Called on the loop.
func (s *session) pauseRead(toBackend bool) {
	ls := s.loop
	if ls.epfd < 0 {
		return
	}
	src := s.client
	if !toBackend {
		src = s.backend
	}
	if src == nil {
		return
	}
	if toBackend {
		if s.clientPaused {
			// gnet re-enables reading after it flushes output to this fd;
			// put the pause back.
			_ = setReadInterest(ls.epfd, src, false)
			return
		}
		s.clientPaused = true
	} else {
		if s.backendPaused {
			_ = setReadInterest(ls.epfd, src, false)
			return
		}
		s.backendPaused = true
	}
	if err := setReadInterest(ls.epfd, src, false); err != nil {
		return
	}
	if !s.inPausedList {
		s.inPausedList = true
		ls.paused = append(ls.paused, s)
		ls.hasPaused.Store(true)
	}
}

// resumeRead restarts reading from one side. Called on the loop.
func (s *session) resumeRead(client bool) {
	ls := s.loop
	if client {
		if !s.clientPaused || s.client == nil {
			return
		}
		s.clientPaused = false
		_ = setReadInterest(ls.epfd, s.client, true)
	} else {
		if !s.backendPaused || s.backend == nil {
			return
		}
		s.backendPaused = false
		_ = setReadInterest(ls.epfd, s.backend, true)
	}
}

// checkPaused resumes sessions whose destination drained. Called on the loop.
func (ls *loopState) checkPaused() {
	kept := ls.paused[:0]
	for _, s := range ls.paused {
		if s.closed {
			s.inPausedList = false
			continue
		}
		s.drainCheck()
		if s.clientPaused || s.backendPaused {
			kept = append(kept, s)
		} else {
			s.inPausedList = false
		}
	}
	for i := len(kept); i < len(ls.paused); i++ {
		ls.paused[i] = nil
	}
	ls.paused = kept
	ls.hasPaused.Store(len(kept) > 0)
}

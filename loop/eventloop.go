package loop

import (
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/loop/gnetx"
)

// loopState is the per-event-loop part of the engine: its timer heap, the
// sessions whose reading is paused, and the epoll fd used to pause them.
// Every field except the atomics is touched only on the loop itself.
type loopState struct {
	el    gnet.EventLoop
	idx   int
	epfd  int // the loop's epoll fd, for pausing reads (pause.go)
	clock *clock
	raw   *gnetx.Loop // el as loop/gnetx registers sockets on it

	timers timerHeap
	paused []*session
	wbuf   []byte   // reply scratch; gnet copies what it cannot send at once
	head   *session // every live session of this loop (drain walks it)

	next      atomic.Int64 // unix nanos of the earliest timer, 0 = none
	hasPaused atomic.Bool
	queued    atomic.Bool // a service run is already queued with Execute
}

// link adds s to the loop's session list. Called on the loop.
func (ls *loopState) link(s *session) {
	s.next = ls.head
	if ls.head != nil {
		ls.head.prev = s
	}
	ls.head = s
}

// unlink removes s from the loop's session list. Called on the loop.
func (ls *loopState) unlink(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else if ls.head == s {
		ls.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
}

// loopOf returns the state of the loop c belongs to, creating it the first
// time a connection shows up on that loop.
func (rt *runtimeState) loopOf(c gnet.Conn) *loopState {
	el := c.EventLoop()
	if v, ok := rt.loops.Load(el); ok {
		return v.(*loopState)
	}
	ls := &loopState{el: el, clock: rt.clock, raw: rt.raw.LoopFor(el)}
	fd, err := gnetx.EpollFd(c)
	if err != nil {
		// gnetx.Init checked this path at start.
		panic("BUG: epoll fd of a gnet loop: " + err.Error())
	}
	ls.epfd = fd
	v, loaded := rt.loops.LoadOrStore(el, ls)
	if !loaded {
		ls.idx = int(rt.nloops.Add(1) - 1)
		rt.clock.add(ls)
	}
	return v.(*loopState)
}

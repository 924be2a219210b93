package loop

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// loopState is the per-event-loop part of the engine: its timer heap, the
// sessions whose reading is paused, and the epoll fd used to pause them.
// Every field except the atomics is touched only on the loop itself.
type loopState struct {
	el    gnet.EventLoop
	idx   int
	epfd  int // the loop's epoll fd, for pausing reads; -1 if unknown
	clock *clock
	raw   *rawLoop // gnetraw's handle of el; nil without gnetraw

	authPools map[*AuthClient]*authLoopPool // auth_http connections (authloop.go)

	timers timerHeap
	paused []*session
	wbuf   []byte   // reply scratch; gnet copies what it cannot send at once
	head   *session // every live session of this loop (drain walks it)

	next      atomic.Int64 // unix nanos of the earliest timer, 0 = none
	hasPaused atomic.Bool
	queued    atomic.Bool // a service run is already queued with Execute
}

// timerEntry is one scheduled wake-up of a session. A session has at most
// one live entry (its gen); older entries are skipped when popped.
type timerEntry struct {
	when int64
	s    *session
	gen  uint32
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when < h[j].when }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any          { old := *h; e := old[len(old)-1]; *h = old[:len(old)-1]; return e }
func (ls *loopState) publishNext() {
	if len(ls.timers) == 0 {
		ls.next.Store(0)
		return
	}
	ls.next.Store(ls.timers[0].when)
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

// arm schedules s.onTimer at deadline (unix nanos). Called on the loop.
func (ls *loopState) arm(s *session, deadline int64) {
	s.deadline = deadline
	if s.timerQueued && s.timerAt <= deadline {
		// The queued entry fires first; onTimer re-checks s.deadline and
		// re-queues, so re-arming (every read in relay) costs no heap work.
		return
	}
	s.timerGen++
	s.timerQueued = true
	s.timerAt = deadline
	heap.Push(&ls.timers, timerEntry{when: deadline, s: s, gen: s.timerGen})
	ls.publishNext()
}

// disarm cancels s's timer. Called on the loop.
func (ls *loopState) disarm(s *session) {
	s.deadline = 0
}

// service runs due timers and resumes paused sessions. Called on the loop.
func (ls *loopState) service() {
	ls.queued.Store(false)
	now := time.Now().UnixNano()
	for len(ls.timers) > 0 && ls.timers[0].when <= now {
		e := heap.Pop(&ls.timers).(timerEntry)
		s := e.s
		if e.gen != s.timerGen {
			continue
		}
		s.timerQueued = false
		if s.closed || s.deadline == 0 {
			continue
		}
		if s.deadline > now {
			ls.arm(s, s.deadline)
			continue
		}
		s.deadline = 0
		s.onTimer()
	}
	ls.publishNext()
	if len(ls.paused) > 0 {
		ls.checkPaused()
	}
}

// clock is the one goroutine that drives every loop's timers: it wakes the
// loops (through Execute) only when a timer is due or reads are paused.
type clock struct {
	mu    sync.Mutex
	loops []*loopState
	stop  chan struct{}
	done  chan struct{}
}

func newClock() *clock {
	c := &clock{stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *clock) add(ls *loopState) {
	c.mu.Lock()
	c.loops = append(c.loops, ls)
	c.mu.Unlock()
}

func (c *clock) snapshot() []*loopState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loops
}

func (c *clock) run() {
	defer close(c.done)
	// 1 ms while some read is paused (resume latency matters to relay
	// throughput towards slow readers), else 10 ms of timer resolution.
	const fast, slow = time.Millisecond, 10 * time.Millisecond
	t := time.NewTimer(slow)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		period := slow
		for _, ls := range c.snapshot() {
			paused := ls.hasPaused.Load()
			if paused {
				period = fast
			}
			n := ls.next.Load()
			if !paused && (n == 0 || n > now) {
				continue
			}
			if ls.queued.CompareAndSwap(false, true) {
				l := ls
				if err := ls.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
					l.service()
					return nil
				})); err != nil {
					ls.queued.Store(false)
				}
			}
		}
		t.Reset(period)
	}
}

func (c *clock) close() {
	close(c.stop)
	<-c.done
}

package loop

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// timerEntry is one scheduled wake-up of a session. A session has at most
// one entry, at index s.timerSlot-1; closing the session takes it out (unqueue), so
// the heap never keeps a closed session, and what it still references,
// alive until its deadline.
type timerEntry struct {
	when int64
	s    *session
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when < h[j].when }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].s.timerSlot = i + 1
	h[j].s.timerSlot = j + 1
}
func (h *timerHeap) Push(x any) {
	e := x.(timerEntry)
	*h = append(*h, e)
	e.s.timerSlot = len(*h)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = timerEntry{} // drop the reference
	*h = old[:len(old)-1]
	e.s.timerSlot = 0
	return e
}

func (ls *loopState) publishNext() {
	if len(ls.timers) == 0 {
		ls.next.Store(0)
		return
	}
	ls.next.Store(ls.timers[0].when)
}

// arm schedules s.onTimer at deadline (unix nanos). Called on the loop.
func (ls *loopState) arm(s *session, deadline int64) {
	s.deadline = deadline
	if s.timerSlot > 0 {
		e := &ls.timers[s.timerSlot-1]
		if e.when <= deadline {
			// The queued entry fires first; onTimer re-checks s.deadline
			// and re-queues, so re-arming (every read in relay) costs no
			// heap work.
			return
		}
		e.when = deadline
		heap.Fix(&ls.timers, s.timerSlot-1)
	} else {
		heap.Push(&ls.timers, timerEntry{when: deadline, s: s})
	}
	ls.publishNext()
}

// disarm cancels s's timer. Called on the loop.
func (ls *loopState) disarm(s *session) {
	s.deadline = 0
}

// unqueue takes s's entry out of the heap: s is closed. Called on the loop.
func (ls *loopState) unqueue(s *session) {
	i := s.timerSlot - 1
	if i < 0 || i >= len(ls.timers) || ls.timers[i].s != s {
		return
	}
	heap.Remove(&ls.timers, i)
	ls.publishNext()
}

// service runs due timers and resumes paused sessions. Called on the loop.
func (ls *loopState) service() {
	ls.queued.Store(false)
	now := time.Now().UnixNano()
	for len(ls.timers) > 0 && ls.timers[0].when <= now {
		s := heap.Pop(&ls.timers).(timerEntry).s
		if s.closed || s.deadline == 0 {
			continue
		}
		if s.deadline > now {
			ls.arm(s, s.deadline)
			continue
		}
		s.deadline = 0
		s.fireTimer()
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

// fireTimer runs s's timer; a panic ends s alone.
func (s *session) fireTimer() {
	defer s.recoverPanic("timer")
	s.onTimer()
}

package loop

import (
	"container/heap"
	"context"
	"math"
	"sync"
	"sync/atomic"
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
	n := ls.timers[0].when
	ls.next.Store(n)
	if c := ls.clock; c != nil && n+int64(clockSlow) < c.wakeAt.Load() {
		c.nudge() // the clock sleeps past this timer's resolution, or sleeps with no session
	}
}

// markPaused records that a read of this loop is paused: the clock then
// services the loop every clockFast. Called on the loop.
func (ls *loopState) markPaused() {
	if !ls.hasPaused.Swap(true) && ls.clock != nil {
		ls.clock.nudge()
	}
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
// While any loop has a timer queued (any session open) it looks every
// clockSlow; with no session anywhere it sleeps (clockIdle at most), so a
// proxy with nothing to do wakes no thread. (Ticking every 10 ms with no
// session cost 1.2% of a CPU and ~650 context switches a second. Sleeping
// until the earliest timer while sessions were open, tried in b7724af,
// made logins cost 15% more CPU at 2,000/s: the tick keeps the Go
// runtime's threads from parking between logins; bench/RESULTS.md issue
// 13 section 12.) A loop whose earliest timer is due before the clock
// will look, or which pauses a read, nudges it.
//
// Resolution: a timer fires at most clockSlow late (the clock does not
// wake more often than that for timers), every clockFast while a read is
// paused (resume latency matters to relay throughput towards slow readers).
type clock struct {
	mu    sync.Mutex
	loops []*loopState
	stop  chan struct{}
	done  chan struct{}
	poke  chan struct{} // one token: rescan the loops

	// wakeAt is the unix nanos by which the clock will look at the loops
	// again; math.MaxInt64 while it scans, and while it sleeps with no
	// session anywhere (so the first timer queued wakes it back to
	// ticking). A loop publishing a timer due before wakeAt-clockSlow
	// nudges it.
	wakeAt   atomic.Int64
	scans    atomic.Uint64 // how often the clock looked at the loops (tests)
	lastBusy int64         // unix nanos of the last scan that found a timer or a pause (clock goroutine only)
}

const clockFast, clockSlow, clockIdle = time.Millisecond, 10 * time.Millisecond, time.Second

func newClock() *clock {
	c := &clock{stop: make(chan struct{}), done: make(chan struct{}), poke: make(chan struct{}, 1)}
	c.wakeAt.Store(math.MaxInt64)
	go c.run()
	return c
}

// nudge makes the clock rescan the loops now. Safe from any goroutine.
func (c *clock) nudge() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

func (c *clock) add(ls *loopState) {
	c.mu.Lock()
	c.loops = append(c.loops, ls)
	c.mu.Unlock()
	c.nudge()
}

func (c *clock) snapshot() []*loopState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loops
}

func (c *clock) run() {
	defer close(c.done)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		t.Reset(time.Duration(c.scan() - time.Now().UnixNano()))
		select {
		case <-c.stop:
			return
		case <-t.C:
		case <-c.poke:
			t.Stop()
		}
	}
}

// scan queues a service run on every loop with a due timer or a paused
// read, publishes when the clock looks next and returns it (unix nanos:
// clockFast ahead while a read is paused, clockSlow while a timer is
// queued or was within clockIdle, else clockIdle). A loop that
// publishes a timer while the clock scans sees wakeAt at MaxInt64 and
// nudges, so no timer is missed between the scan and the sleep.
func (c *clock) scan() int64 {
	c.scans.Add(1)
	c.wakeAt.Store(math.MaxInt64)
	now := time.Now().UnixNano()
	earliest := int64(math.MaxInt64)
	paused := false
	for _, ls := range c.snapshot() {
		p := ls.hasPaused.Load()
		n := ls.next.Load()
		if p || (n != 0 && n <= now) {
			paused = paused || p
			c.lastBusy = now
			c.queueService(ls)
			continue // the loop publishes its next timer after the run
		}
		if n != 0 && n < earliest {
			earliest = n
		}
	}
	wake := now + int64(clockSlow)
	switch {
	case paused:
		wake = now + int64(clockFast)
	case earliest != math.MaxInt64:
		c.lastBusy = now
	case now-c.lastBusy > int64(clockIdle):
		return now + int64(clockIdle) // wakeAt stays MaxInt64: any timer queued nudges
	}
	c.wakeAt.Store(wake)
	return wake
}

// queueService runs ls.service on its loop unless a run is queued already.
func (c *clock) queueService(ls *loopState) {
	if !ls.queued.CompareAndSwap(false, true) {
		return
	}
	if err := ls.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		ls.service()
		return nil
	})); err != nil {
		ls.queued.Store(false)
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

package loop

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// fakeLoop runs Execute'd work and do() calls one at a time on its own
// goroutine, as an event loop would, and records when services came.
type fakeLoop struct {
	gnet.EventLoop
	work chan func()
	mu   sync.Mutex
	runs []time.Time
}

func newFakeLoop(t *testing.T) *fakeLoop {
	f := &fakeLoop{work: make(chan func(), 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for w := range f.work {
			w()
		}
	}()
	t.Cleanup(func() { close(f.work); <-done })
	return f
}

func (f *fakeLoop) Execute(ctx context.Context, r gnet.Runnable) error {
	f.work <- func() {
		f.mu.Lock()
		f.runs = append(f.runs, time.Now())
		f.mu.Unlock()
		_ = r.Run(ctx)
	}
	return nil
}

// do runs fn on the loop and waits for it.
func (f *fakeLoop) do(fn func()) {
	ch := make(chan struct{})
	f.work <- func() { fn(); close(ch) }
	<-ch
}

func (f *fakeLoop) services() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.runs...)
}

func startClock(t *testing.T) (*clock, *loopState, *fakeLoop) {
	f := newFakeLoop(t)
	c := newClock()
	t.Cleanup(c.close)
	ls := &loopState{el: f, clock: c}
	c.add(ls)
	return c, ls, f
}

// armClosed queues a timer at d from now for a closed session: service
// pops it without firing anything.
func armClosed(f *fakeLoop, ls *loopState, d time.Duration) {
	f.do(func() { ls.arm(&session{closed: true}, time.Now().Add(d).UnixNano()) })
}

// TestClockSleepsWithNothingDue: the clock used to wake every 10 ms with
// no session anywhere (100 wake-ups a second, each waking Go's netpoller
// thread and sysmon: 1.2% of a CPU and ~650 context switches a second for
// an idle proxy). Now it sleeps while no timer is queued, and ticks again
// once one is (see clock: under login load the tick is cheaper).
func TestClockSleepsWithNothingDue(t *testing.T) {
	c, ls, f := startClock(t)
	time.Sleep(50 * time.Millisecond)
	before := c.scans.Load()
	time.Sleep(300 * time.Millisecond)
	if n := c.scans.Load() - before; n > 1 {
		t.Fatalf("with no timer the clock looked %d times in 300 ms", n)
	}
	armClosed(f, ls, 10*time.Second)
	time.Sleep(20 * time.Millisecond)
	before = c.scans.Load()
	time.Sleep(300 * time.Millisecond)
	if n := c.scans.Load() - before; n < 10 {
		t.Fatalf("with a timer queued the clock looked %d times in 300 ms, want every %v", n, clockSlow)
	}
	if got := f.services(); len(got) != 0 {
		t.Fatalf("%d service runs with no timer due", len(got))
	}
}

// TestClockFiresTimersOnTime: a timer is serviced after its deadline and
// at most clockSlow (plus scheduling slack) late, including one armed
// earlier than the timer the clock already sleeps for.
func TestClockFiresTimersOnTime(t *testing.T) {
	_, ls, f := startClock(t)
	const slack = 150 * time.Millisecond
	armClosed(f, ls, 10*time.Second)
	start := time.Now()
	armClosed(f, ls, 100*time.Millisecond) // earlier than what the clock sleeps for
	deadline := start.Add(100 * time.Millisecond)
	for time.Since(start) < 2*time.Second && len(f.services()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	got := f.services()
	if len(got) == 0 {
		t.Fatal("a timer armed while the clock slept for a later one was not serviced within 2 s")
	}
	if got[0].Before(deadline) || got[0].After(deadline.Add(clockSlow+slack)) {
		t.Fatalf("serviced %v after arming, want 100 ms to 100 ms + %v", got[0].Sub(start), clockSlow+slack)
	}
	var left int
	f.do(func() { left = len(ls.timers) })
	if left != 1 {
		t.Fatalf("%d timers left, want the 10 s one", left)
	}
}

// TestClockServicesPausedLoop: a loop with a paused read is serviced every
// clockFast until nothing is paused any more.
func TestClockServicesPausedLoop(t *testing.T) {
	_, ls, f := startClock(t)
	time.Sleep(20 * time.Millisecond)
	f.do(func() {
		ls.paused = append(ls.paused, &session{inPausedList: true, clientPaused: true, phase: PhaseAuth})
		ls.markPaused()
	})
	time.Sleep(100 * time.Millisecond)
	n := len(f.services())
	if n < 1 {
		t.Fatal("a paused loop was not serviced")
	}
	// The session stays paused (not closed, nothing resumes it): service
	// keeps coming.
	time.Sleep(100 * time.Millisecond)
	if m := len(f.services()); m < n+10 {
		t.Fatalf("%d service runs in 100 ms of a paused read, want about 100", m-n)
	}
	f.do(func() { ls.paused[0].closed = true })
	time.Sleep(50 * time.Millisecond)
	n = len(f.services())
	time.Sleep(200 * time.Millisecond)
	if m := len(f.services()); m > n {
		t.Fatalf("%d service runs after the pause ended", m-n)
	}
}

package authhttp

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"mailproxy/codec"
)

// pollWaiter stands for an event loop's doorbell: Arm starts a poll(2) of
// the socket in a goroutine that rings C when it is readable.
type pollWaiter struct {
	ch     chan struct{}
	arms   atomic.Int32
	refuse bool // Arm fails: the loop is gone
}

func (w *pollWaiter) Arm(fd int) error {
	if w.refuse {
		return errors.New("no loop")
	}
	w.arms.Add(1)
	go func() {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(fds, 1000); n > 0 {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}()
	return nil
}
func (w *pollWaiter) C() <-chan struct{} { return w.ch }
func (w *pollWaiter) Close()             {}

// TestAuthAnswerWakesWaiter: with a Waiter, an answer that comes after the
// request is read once the doorbell rings (not through Go's netpoller),
// keeps working on a kept-alive connection, and a hung server still times
// out by the call's deadline; a Waiter whose Arm fails (loop gone) falls
// back to Go's netpoller.
func TestAuthAnswerWakesWaiter(t *testing.T) {
	slow := func(int) (string, bool) { time.Sleep(30 * time.Millisecond); return authOKResponse, false }
	for _, refuse := range []bool{false, true} {
		s := authStartServer(t, "tcp", "127.0.0.1:0", slow)
		c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
		w := &pollWaiter{ch: make(chan struct{}, 1), refuse: refuse}
		c.SetWaker(func() (Waiter, error) { return w, nil })
		for i := range 3 {
			var out codec.AuthResponse
			if err := c.Do(authTestRequest(), nil, 5*time.Second, &out); err != nil || !out.OK {
				t.Fatalf("refuse=%v, call %d: %v, ok %v", refuse, i, err, out.OK)
			}
		}
		if arms := w.arms.Load(); !refuse && arms < 3 {
			t.Errorf("doorbell armed %d times for 3 slow answers, want at least 3", arms)
		}
		if n := c.ConnsOpened(); n != 1 {
			t.Errorf("refuse=%v: %d connections for 3 calls, want 1 (kept alive)", refuse, n)
		}
		c.Close()
	}
	s := authStartServer(t, "tcp", "127.0.0.1:0", func(int) (string, bool) { return "", false })
	c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	c.SetWaker(func() (Waiter, error) { return &pollWaiter{ch: make(chan struct{}, 1)}, nil })
	var out codec.AuthResponse
	if err := c.Do(authTestRequest(), nil, 200*time.Millisecond, &out); !errors.Is(err, ErrTimeout) {
		t.Fatalf("hung server through the doorbell: %v, want a timeout", err)
	}
}

package loop

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/loop/authhttp"
	"mailproxy/loop/gnetx"
)

// auth_http answers wake an event loop, not Go's netpoller. A worker
// waiting for an answer in fasthttp would park in Go's netpoller, which
// only runs when a thread has nothing else to do or every 10 ms from
// sysmon: with GOMAXPROCS = loops, both loops sit in epoll_wait holding
// their Ps and nobody polls. So each plain auth_http connection gets a
// doorbell on a loop (gnetx.Bell.Arm: the socket's next readability rings
// it) and authConn waits on the doorbell's channel (authhttp.Waiter): the
// loop wakes, readies the worker on its own P, and the worker runs on the
// loop's thread right after the loop's round, with no other thread woken.

// authWaiter is one auth_http connection's doorbell: the gnet context of
// the bell's conn and the authhttp.Waiter its connection waits on.
type authWaiter struct {
	bell   *gnetx.Bell
	ch     chan struct{} // one token per ring; closed when the bell's conn closes
	closed atomic.Bool
	once   sync.Once
}

var errWaiterClosed = errors.New("auth waiter closed")

// newAuthWaiter makes a doorbell on the next loop in turn. Called by the
// worker that dials an auth_http connection; it waits for the loop.
func (rt *runtimeState) newAuthWaiter() (authhttp.Waiter, error) {
	re := rt.raw
	if re == nil || len(re.Loops) == 0 {
		return nil, errWaiterClosed
	}
	lp := re.Loops[int(rt.nextWaiter.Add(1))%len(re.Loops)]
	w := &authWaiter{ch: make(chan struct{}, 1)}
	done := make(chan error, 1)
	err := lp.EL.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		b, err := re.NewBell(lp, w)
		w.bell = b
		done <- err
		return nil
	}))
	if err != nil {
		return nil, err
	}
	if err := <-done; err != nil {
		return nil, err
	}
	return w, nil
}

// Arm makes the socket's next readability ring the doorbell.
func (w *authWaiter) Arm(fd int) error {
	if w.closed.Load() {
		return errWaiterClosed
	}
	return w.bell.Arm(fd)
}

// C is where a ring arrives.
func (w *authWaiter) C() <-chan struct{} { return w.ch }

// Close ends the doorbell (its conn is closed on its loop).
func (w *authWaiter) Close() {
	w.once.Do(func() {
		w.closed.Store(true)
		w.bell.Close()
	})
}

// ring runs on the loop when the armed socket is readable.
func (w *authWaiter) ring() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// gone runs on the loop when the bell's conn closed (Close, or the
// engine's shutdown): a waiting connection wakes and falls back to Go's
// netpoller from then on.
func (w *authWaiter) gone() {
	w.closed.Store(true)
	close(w.ch)
}

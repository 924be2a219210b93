package loop

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/config"
	"mailproxy/loop/stats"
)

// A panic ends one session, never the process. gnet v2.9.7 does not
// recover panics in its callbacks, so one nil dereference in a state
// machine would otherwise end every session of every user. Every way
// into session code recovers: the gnet callbacks (handler.go), timers
// (clock.go), Execute closures (onLoop), the TLS handshake goroutine, and
// Pool workers. What recovers closes the session and its backend, logs
// at crit with the stack, and counts mailproxy_panics_total.

// recoverPanic is deferred by code that runs for s on its loop.
func (s *session) recoverPanic(where string) {
	if p := recover(); p != nil {
		s.panicked(where, p)
	}
}

// onLoop runs f for s on its loop, unless s is closed: the body of every
// Execute closure that acts for a session.
func (s *session) onLoop(where string, f func()) {
	defer s.recoverPanic(where)
	if s.closed {
		return
	}
	f()
}

// panicked ends s after a panic. The session may be half updated; if
// closing it panics too, its connections are closed directly.
func (s *session) panicked(where string, p any) {
	stats.Panic()
	s.srv.log.Log(context.Background(), config.LevelCrit, fmt.Sprintf("panic in %s: %v", where, p),
		"conn", s.id, "client", s.clientIP, "server", s.srv.listen, "stack", string(debug.Stack()))
	func() {
		defer func() {
			if recover() != nil {
				s.closed = true
				for _, c := range []gnet.Conn{s.client, s.backend} {
					if c != nil {
						_ = c.Close()
					}
				}
			}
		}()
		s.close("panic")
	}()
}

// workerPanic turns a panic in a Pool task into the task's error. Called
// from the deferred recover of the task.
func workerPanic(where string, p any) error {
	stats.Panic()
	l := panicLog.Load()
	if l == nil {
		l = slog.Default()
	}
	l.Log(context.Background(), config.LevelCrit, fmt.Sprintf("panic in %s: %v", where, p),
		"stack", string(debug.Stack()))
	return fmt.Errorf("internal error: panic in %s", where)
}

// panicLog is where panics outside a session are logged: the main log,
// set by Run.
var panicLog atomic.Pointer[slog.Logger]

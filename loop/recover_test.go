package loop

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"

	"mailproxy/config"
	"mailproxy/loop/stats"
)

// panicsCounted reads mailproxy_panics_total from a scrape.
func panicsCounted(t *testing.T) int {
	t.Helper()
	var b bytes.Buffer
	if err := stats.WriteScrape(&b); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^mailproxy_panics_total (\d+)$`).FindSubmatch(b.Bytes())
	if m == nil {
		t.Fatal("mailproxy_panics_total missing from the scrape")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestPanicEndsOneSession: a panic in one session's state machine (here a
// clientData that panics on "boom", standing in for a nil dereference)
// closes that session and its connection, is counted, and the other
// sessions of the same loop carry on: gnet does not recover panics, so
// without the recover in the callbacks it would end the process.
func TestPanicEndsOneSession(t *testing.T) {
	cfg := testServerConfig(config.IMAP, nil)
	ops := *imapOpsFor(cfg)
	real := ops.clientData
	ops.clientData = func(s *session) {
		if bytes.Contains(s.in(), []byte("boom")) {
			var st *imapState
			st.tag = nil // nil dereference
		}
		real(s)
	}
	victim := newTranscriptOps(t, cfg, &ops)
	// A second session on the same handler and loop.
	other := &transcript{t: t, h: victim.h, srv: victim.srv, c: &fakeConn{ctx: victim.srv}, pool: victim.pool}
	other.s = other.open(victim.s.loop)
	victim.take()
	other.take()
	before := panicsCounted(t)

	if got := other.send("a1 NOOP\r\n"); got != "a1 OK completed\r\n" {
		t.Fatalf("other session before: %q", got)
	}
	if got := victim.send("a1 boom\r\n"); got != "[closed]" {
		t.Fatalf("panicking session: got %q, want it closed without a reply", got)
	}
	if !victim.s.closed || victim.s.closeReason != "panic" {
		t.Fatalf("panicking session: closed %v, reason %q", victim.s.closed, victim.s.closeReason)
	}
	if n := panicsCounted(t); n != before+1 {
		t.Fatalf("mailproxy_panics_total %d, want %d", n, before+1)
	}
	if got := other.send("a2 NOOP\r\n"); got != "a2 OK completed\r\n" {
		t.Fatalf("other session after the panic: %q", got)
	}
	if other.s.closed {
		t.Fatal("the other session was closed")
	}
}

// TestPanicInTimerEndsOneSession: the same for a timer (clock.go) and an
// Execute closure (onLoop).
func TestPanicInTimerEndsOneSession(t *testing.T) {
	cfg := testServerConfig(config.SMTP, nil)
	ops, err := opsFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := *ops
	o.onTimer = func(*session) bool { panic("BUG: injected") }
	tr := newTranscriptOps(t, cfg, &o)
	tr.s.fireTimer()
	if !tr.s.closed || tr.s.closeReason != "panic" || !tr.c.closed {
		t.Fatalf("timer panic: closed %v (conn %v), reason %q", tr.s.closed, tr.c.closed, tr.s.closeReason)
	}

	tr = newTranscriptOps(t, cfg, ops)
	tr.s.onLoop("test closure", func() { panic("BUG: injected") })
	if !tr.s.closed || tr.s.closeReason != "panic" {
		t.Fatalf("closure panic: closed %v, reason %q", tr.s.closed, tr.s.closeReason)
	}
}

// TestPanicInPoolTask: a panicking worker task is the task's end, not the
// worker's: the pool runs the next one.
func TestPanicInPoolTask(t *testing.T) {
	p := NewPool(1, 4)
	defer p.Close()
	done := make(chan struct{})
	if !p.TrySubmit(func() { panic("BUG: injected") }) || !p.TrySubmit(func() { close(done) }) {
		t.Fatal("TrySubmit refused")
	}
	<-done
}

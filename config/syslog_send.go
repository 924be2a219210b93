package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sending error_log lines to syslog without ever making the logging
// goroutine wait: an event loop that logs puts the datagram in a bounded
// queue and goes on; one goroutine per target drains the queue into a
// connected socket. When the queue is full the message is dropped and
// counted. A send that fails (ECONNREFUSED from a UDP server that is down,
// a unix socket that is missing or whose reader went away) drops the
// message, closes the socket and redials on the next message, as nginx
// reconnects on its next write.

const (
	syslogQueueLen     = 1024            // datagrams waiting per target
	syslogWriteTimeout = time.Second     // a unix socket whose reader stalls
	syslogReportEvery  = time.Minute     // at most one failure line per target per interval
	syslogCloseWait    = 2 * time.Second // how long Close waits for the queue to drain
)

// syslogHostname is the HOST field: the lower-case host name, as nginx
// takes it from gethostname() and lower-cases it.
var syslogHostname = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return strings.ToLower(h)
})

// syslogSenders are all senders of the process, for CloseSyslog and
// SyslogDropped.
var syslogSenders struct {
	mu   sync.Mutex
	list []*syslogSender
}

// syslogSender owns the socket of one syslog target. send is called with
// the owning logShared's mutex held; run is the one goroutine that touches
// conn.
type syslogSender struct {
	t      *SyslogTarget
	mu     *sync.Mutex              // the owner's (logShared.mu)
	report func(slog.Level, string) // writes a line to the owner's other outputs

	started, closed bool // under mu
	q               chan []byte
	stop            chan struct{} // closed by close: drain q and return
	done            chan struct{} // closed when run returns
	redial          atomic.Bool   // set by Reopen: reconnect before the next write
	dropped         atomic.Uint64

	conn       net.Conn  // run only
	lastReport time.Time // run only
	unreported uint64    // run only: drops since the last failure line
}

func newSyslogSender(t *SyslogTarget, mu *sync.Mutex, report func(slog.Level, string)) *syslogSender {
	s := &syslogSender{t: t, mu: mu, report: report, q: make(chan []byte, syslogQueueLen),
		stop: make(chan struct{}), done: make(chan struct{})}
	syslogSenders.mu.Lock()
	syslogSenders.list = append(syslogSenders.list, s)
	syslogSenders.mu.Unlock()
	return s
}

// datagram renders one message as nginx does for error_log (BSD syslog,
// RFC 3164 section 4.1): "<PRI>Mmm dd hh:mm:ss HOST TAG: " and the
// error_log line without its newline. PRI is facility*8 plus the
// message's own level; nginx ignores severity= for error_log.
func (s *syslogSender) datagram(tm time.Time, level slog.Level, line []byte) []byte {
	b := make([]byte, 0, 64+len(line))
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.t.Facility*8+nameIndex(syslogSeverities, LevelName(level))), 10)
	b = append(b, '>')
	b = tm.AppendFormat(b, "Jan _2 15:04:05")
	b = append(b, ' ')
	if !s.t.NoHostname {
		b = append(b, syslogHostname()...)
		b = append(b, ' ')
	}
	b = append(b, s.t.Tag...)
	b = append(b, ": "...)
	return append(b, line...)
}

// send queues b without blocking. Called with mu held.
func (s *syslogSender) send(b []byte) {
	if s.closed {
		s.dropped.Add(1)
		return
	}
	if !s.started {
		s.started = true
		go s.run()
	}
	select {
	case s.q <- b:
	default:
		s.dropped.Add(1)
	}
}

func (s *syslogSender) run() {
	defer close(s.done)
	defer func() {
		if s.conn != nil {
			s.conn.Close()
		}
	}()
	for {
		select {
		case b := <-s.q:
			s.write(b)
		case <-s.stop:
			for {
				select {
				case b := <-s.q:
					s.write(b)
				default:
					return
				}
			}
		}
	}
}

func (s *syslogSender) write(b []byte) {
	if s.redial.Swap(false) && s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	if s.conn == nil {
		c, err := net.DialTimeout(s.t.Network, s.t.Addr, syslogWriteTimeout)
		if err != nil {
			s.fail("connect()", err)
			return
		}
		s.conn = c
	}
	s.conn.SetWriteDeadline(time.Now().Add(syslogWriteTimeout))
	if _, err := s.conn.Write(b); err != nil {
		s.conn.Close()
		s.conn = nil
		s.fail("send()", err)
	}
}

// fail counts the lost message and says so in the owner's other logs at
// most once per syslogReportEvery, with the count since the last line.
func (s *syslogSender) fail(call string, err error) {
	s.dropped.Add(1)
	s.unreported++
	now := time.Now()
	if !s.lastReport.IsZero() && now.Sub(s.lastReport) < syslogReportEvery {
		return
	}
	msg := fmt.Sprintf(`%s to syslog server "%s" failed %s, the message is dropped`, call, s.t.Server, errnoParen(err))
	if s.unreported > 1 {
		msg += fmt.Sprintf(" (%d dropped since the last report)", s.unreported)
	}
	s.lastReport, s.unreported = now, 0
	s.report(LevelError, msg)
}

// errnoParen renders a socket error as nginx does: "(111: Connection refused)".
func errnoParen(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	return syscallErr(err)
}

// closeOwned marks the sender closed and, if run was started, makes it
// drain the queue and return, waiting at most syslogCloseWait. Called
// without the owner's mutex held (run may need it to report).
func (s *syslogSender) closeOwned() {
	s.mu.Lock()
	started, already := s.started, s.closed
	s.closed = true
	s.mu.Unlock()
	if !started || already {
		return
	}
	close(s.stop)
	select {
	case <-s.done:
	case <-time.After(syslogCloseWait):
	}
}

// CloseSyslog flushes and closes every syslog target of the process,
// server-level ones included: called once at exit so the last lines are
// sent.
func CloseSyslog() {
	syslogSenders.mu.Lock()
	list := syslogSenders.list
	syslogSenders.list = nil
	syslogSenders.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range list {
		wg.Go(func() { s.closeOwned() })
	}
	wg.Wait()
}

// SyslogDropped is the number of error_log messages the process's syslog
// targets have dropped (queue full, or the send failed).
func SyslogDropped() uint64 {
	syslogSenders.mu.Lock()
	defer syslogSenders.mu.Unlock()
	var n uint64
	for _, s := range syslogSenders.list {
		n += s.dropped.Load()
	}
	return n
}

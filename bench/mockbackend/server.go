package mockbackend

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"mailproxy/bench/internal/netsrv"
)

// errLineTooLong: a command line did not fit the 4 KiB reader.
var errLineTooLong = errors.New("mockbackend: command line too long")

// Config sets what the backend serves.
type Config struct {
	Size     int    // bytes of the one message in the mailbox; default 4096
	Hostname string // in greetings and EHLO; default "mock.bench"
	// NoLiteralPlus leaves LITERAL+ out of the IMAP capabilities (a
	// backend that wants synchronising literals; the proxy's LOGIN then
	// takes a round trip per literal).
	NoLiteralPlus bool
}

// Stats are counters since start.
type Stats struct {
	Accepts  uint64 `json:"accepts"`
	Logins   uint64 `json:"logins"`   // LOGIN/AUTHENTICATE, PASS/APOP, AUTH or XCLIENT LOGIN=
	Messages uint64 `json:"messages"` // FETCH/RETR served plus DATA/APPEND received
	BytesIn  uint64 `json:"bytes_in"` // DATA and APPEND payload bytes dropped
}

// String renders the counters in one line, for logs.
func (s Stats) String() string {
	return fmt.Sprintf("accepts=%d logins=%d messages=%d bytes_in=%d", s.Accepts, s.Logins, s.Messages, s.BytesIn)
}

// Server is a mock mail store. Its methods are safe for concurrent use; each
// connection is served by its own goroutine.
type Server struct {
	cfg Config
	msg []byte

	imap imapReplies
	pop3 pop3Replies
	smtp smtpReplies

	logins, messages, bytesIn atomic.Uint64

	conns netsrv.Group
}

// New builds the message and the canned replies.
func New(cfg Config) *Server {
	if cfg.Size <= 0 {
		cfg.Size = 4096
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "mock.bench"
	}
	s := &Server{cfg: cfg, msg: Message(cfg.Size)}
	size := strconv.Itoa(len(s.msg))
	s.imap = newIMAPReplies(cfg.Hostname, s.msg, size, cfg.NoLiteralPlus)
	s.pop3 = newPOP3Replies(cfg.Hostname, s.msg, size)
	s.smtp = newSMTPReplies(cfg.Hostname)
	return s
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{Accepts: s.conns.Accepts.Load(), Logins: s.logins.Load(), Messages: s.messages.Load(), BytesIn: s.bytesIn.Load()}
}

// ServeIMAP, ServePOP3 and ServeSMTP accept connections on ln until it is
// closed or Close is called.
func (s *Server) ServeIMAP(ln net.Listener) error { return s.serve(ln, s.imapConn) }
func (s *Server) ServePOP3(ln net.Listener) error { return s.serve(ln, s.pop3Conn) }
func (s *Server) ServeSMTP(ln net.Listener) error { return s.serve(ln, s.smtpConn) }

// Close stops all listeners and connections.
func (s *Server) Close() error { return s.conns.Close() }

// mbConn is one client connection with pooled buffers.
type mbConn struct {
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	out []byte // reply scratch
	cmd []byte // IMAP command scratch (literals removed)
}

var mbPool = sync.Pool{New: func() any {
	return &mbConn{r: bufio.NewReaderSize(nil, 4096), w: bufio.NewWriterSize(nil, 4096)}
}}

func (s *Server) serve(ln net.Listener, handle func(*mbConn) error) error {
	return s.conns.Serve(ln, func(c net.Conn) {
		m := mbPool.Get().(*mbConn)
		m.c = c
		m.r.Reset(c)
		m.w.Reset(c)
		handle(m)
		m.w.Flush()
		m.c = nil
		m.r.Reset(nil)
		m.w.Reset(nil)
		mbPool.Put(m)
	})
}

// readLine returns the next line including its LF; the slice is valid
// until the next read.
func (m *mbConn) readLine() ([]byte, error) {
	line, err := m.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errLineTooLong
	}
	return line, err
}

// flushIfIdle flushes replies once the client has no more pipelined input,
// so pipelined commands are answered in one write.
func (m *mbConn) flushIfIdle() error {
	if m.r.Buffered() == 0 {
		return m.w.Flush()
	}
	return nil
}

// sinkDotted reads an SMTP DATA / POP3-style body up to the line ".",
// returning the number of bytes dropped.
func (m *mbConn) sinkDotted() (uint64, error) {
	var n uint64
	atStart := true
	for {
		line, err := m.r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return n, err
		}
		if atStart && (string(line) == ".\r\n" || string(line) == ".\n") {
			return n, nil
		}
		n += uint64(len(line))
		atStart = err == nil // a long line continues in the next slice
	}
}

// word splits the first space-separated token off b (after leading spaces).
func word(b []byte) (w, rest []byte) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	i := 0
	for i < len(b) && b[i] != ' ' && b[i] != '\r' && b[i] != '\n' {
		i++
	}
	return b[:i], b[i:]
}

// is reports whether w equals the upper-case ASCII keyword kw, ignoring case.
func is(w []byte, kw string) bool {
	if len(w) != len(kw) {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != kw[i] {
			return false
		}
	}
	return true
}

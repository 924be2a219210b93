package loadgen

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Proto names a mail protocol.
type Proto uint8

// The protocols the generator speaks.
const (
	IMAP Proto = iota + 1
	POP3
	SMTP
)

func (p Proto) String() string {
	switch p {
	case IMAP:
		return "imap"
	case POP3:
		return "pop3"
	case SMTP:
		return "smtp"
	}
	return "unknown"
}

// ParseProto maps "imap", "pop3" or "smtp" to a Proto.
func ParseProto(s string) (Proto, error) {
	for _, p := range []Proto{IMAP, POP3, SMTP} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("loadgen: unknown protocol %q (want imap, pop3 or smtp)", s)
}

// PhaseError is a failed session step; its text "phase:reason" is the key
// under which reports count errors.
type PhaseError struct {
	Phase  string // dial, tls, greeting, login, command, logout, select, relay
	Reason string // timeout, closed, refused, rejected, bad-reply, io
	Detail string // the reply line or the underlying error, for -v output
}

func (e *PhaseError) Error() string { return e.Phase + ":" + e.Reason }

// ioFailure classifies a network error met during phase.
func ioFailure(phase string, err error) error {
	reason := "io"
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		reason = "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		reason = "closed"
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "refused"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		reason = "fd-limit"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		reason = "no-port"
	}
	return &PhaseError{Phase: phase, Reason: reason, Detail: err.Error()}
}

// badReply reports an unexpected reply; rejected is used for an explicit
// negative answer to a login.
func badReply(phase, reason string, line []byte) error {
	if len(line) > 120 {
		line = line[:120]
	}
	return &PhaseError{Phase: phase, Reason: reason, Detail: string(line)}
}

// session is one client connection. It is owned by one worker goroutine.
type session struct {
	c   net.Conn
	r   *bufio.Reader
	cfg *sessionConfig
}

// sessionConfig is shared read-only by all workers of a run.
type sessionConfig struct {
	proto   Proto
	addr    string
	timeout time.Duration
	srcs    []net.Addr  // local addresses to spread over; nil = kernel's choice
	tls     *tls.Config // implicit TLS or STARTTLS; nil = plaintext
	upgrade bool        // tls after the greeting (STARTTLS/STLS), not from the first byte
	ops     *protoOps

	// TLS handshakes made, how many of them resumed a session, and the
	// key exchange each one negotiated.
	handshakes, resumed atomic.Uint64
	kxMu                sync.Mutex
	kx                  map[tls.CurveID]uint64
	ver                 map[uint16]uint64 // handshakes by negotiated TLS version

	imapLogin, smtpAuth, pop3User, pop3Pass []byte
	smtpData                                []byte // message + ".\r\n"
}

// protoOps are the per-protocol steps; core code calls them without
// switching on the protocol.
type protoOps struct {
	greeting func(*session) error
	login    func(*session) error
	command  func(*session) error
	logout   func(*session) error
	starttls func(*session) error          // plaintext request for TLS, up to the server's go-ahead
	prepare  func(*session) error          // before relay loops (IMAP SELECT)
	transfer func(*session) (int64, error) // one message through the relay
}

func opsFor(p Proto) *protoOps {
	switch p {
	case IMAP:
		return &imapOps
	case POP3:
		return &pop3Ops
	}
	return &smtpOps
}

func newSessionConfig(o *Options) (*sessionConfig, error) {
	p, err := ParseProto(o.Proto)
	if err != nil {
		return nil, err
	}
	sc := &sessionConfig{proto: p, addr: o.Addr, timeout: o.Timeout, ops: opsFor(p)}
	if sc.timeout <= 0 {
		sc.timeout = 10 * time.Second
	}
	if o.TLS || o.StartTLS {
		// A benchmark talks to its own loopback proxy with a throwaway
		// certificate: verification would only measure the generator. No
		// session cache: every connection pays a full handshake, as a
		// fleet of distinct clients would.
		sc.tls = &tls.Config{InsecureSkipVerify: true, ClientSessionCache: nil}
		if o.Resume {
			// -resume: one cache for the run, as one client that comes
			// back (or a fleet sharing tickets) would have: after the
			// first handshake every login offers the session to resume.
			sc.tls.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		}
		sc.upgrade = o.StartTLS
	}
	sc.imapLogin = []byte("a1 LOGIN " + imapString(o.User) + " " + imapString(o.Pass) + "\r\n")
	sc.pop3User = []byte("USER " + o.User + "\r\n")
	sc.pop3Pass = []byte("PASS " + o.Pass + "\r\n")
	sc.smtpAuth = []byte("AUTH PLAIN " + saslPlain(o.User, o.Pass) + "\r\n")
	if o.Sources > 0 {
		host, _, err := net.SplitHostPort(o.Addr)
		if err != nil {
			return nil, err
		}
		ip := net.ParseIP(host).To4()
		if ip == nil || ip[0] != 127 {
			return nil, fmt.Errorf("loadgen: -src needs a 127.x.x.x target, got %s", host)
		}
		if o.Sources+o.SrcOffset > 250 {
			return nil, fmt.Errorf("loadgen: -src %d with -src-offset %d leaves 127.0.0.2-252", o.Sources, o.SrcOffset)
		}
		for i := 0; i < o.Sources; i++ {
			sc.srcs = append(sc.srcs, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+o.SrcOffset+i))})
		}
	}
	return sc, nil
}

var sessionBufs = make(chan *bufio.Reader, 1024)

// dial opens the connection; worker and seq pick the source address.
func (sc *sessionConfig) dial(seq int) (*session, error) {
	d := net.Dialer{Timeout: sc.timeout}
	if len(sc.srcs) > 0 {
		d.LocalAddr = sc.srcs[seq%len(sc.srcs)]
	}
	c, err := d.Dial("tcp", sc.addr)
	if err != nil {
		return nil, ioFailure("dial", err)
	}
	c.SetDeadline(time.Now().Add(sc.timeout))
	if sc.tls != nil && !sc.upgrade {
		tc := tls.Client(c, sc.tls)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, ioFailure("tls", err)
		}
		sc.countHandshake(tc)
		c = tc
	}
	var r *bufio.Reader
	select {
	case r = <-sessionBufs:
		r.Reset(c)
	default:
		r = bufio.NewReaderSize(c, 64<<10)
	}
	return &session{c: c, r: r, cfg: sc}, nil
}

// open dials, reads the greeting and, with STARTTLS, upgrades the
// connection: every mode starts its sessions here, so the deadline set at
// dial covers the upgrade and login latencies still count from connect.
func (sc *sessionConfig) open(seq int) (*session, error) {
	s, err := sc.dial(seq)
	if err != nil {
		return nil, err
	}
	if err := sc.ops.greeting(s); err != nil {
		s.close()
		return nil, err
	}
	if sc.upgrade {
		if err := s.startTLS(); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// close releases the connection and recycles the reader.
func (s *session) close() {
	s.c.Close()
	if s.r == nil {
		return
	}
	s.r.Reset(nil)
	select {
	case sessionBufs <- s.r:
	default:
	}
}

// extend moves the deadline one timeout ahead (relay loops are long).
func (s *session) extend() { s.c.SetDeadline(time.Now().Add(s.cfg.timeout)) }

func (s *session) send(phase string, b []byte) error {
	if _, err := s.c.Write(b); err != nil {
		return ioFailure(phase, err)
	}
	return nil
}

// line returns the next reply line including CRLF; it is valid until the
// next read. Lines longer than the reader's buffer are an error.
func (s *session) line(phase string) ([]byte, error) {
	l, err := s.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, badReply(phase, "bad-reply", l)
	}
	if err != nil {
		return nil, ioFailure(phase, err)
	}
	return l, nil
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// countHandshake records a finished handshake, whether it resumed and
// its key exchange.
func (sc *sessionConfig) countHandshake(tc *tls.Conn) {
	cs := tc.ConnectionState()
	sc.handshakes.Add(1)
	if cs.DidResume {
		sc.resumed.Add(1)
	}
	kx := cs.CurveID
	if cs.DidResume && cs.Version < tls.VersionTLS13 {
		// A resumed TLS 1.2 handshake exchanges no key (crypto/tls still
		// reports the original session's curve); TLS 1.3 resumption
		// offers only psk_dhe_ke, so it does.
		kx = 0
	}
	sc.kxMu.Lock()
	if sc.kx == nil {
		sc.kx, sc.ver = map[tls.CurveID]uint64{}, map[uint16]uint64{}
	}
	sc.kx[kx]++
	sc.ver[cs.Version]++
	sc.kxMu.Unlock()
}

// tlsFigures copies the handshake counters into r.
func (sc *sessionConfig) tlsFigures(r *Report) {
	r.Handshakes, r.Resumed = sc.handshakes.Load(), sc.resumed.Load()
	sc.kxMu.Lock()
	defer sc.kxMu.Unlock()
	for id, n := range sc.kx {
		if r.KeyExchange == nil {
			r.KeyExchange = map[string]uint64{}
		}
		name := "none" // CurveID 0: a TLS 1.2 RSA exchange or a resumption without (EC)DHE
		if id != 0 {
			name = id.String()
		}
		r.KeyExchange[name] += n
	}
	for v, n := range sc.ver {
		if r.Versions == nil {
			r.Versions = map[string]uint64{}
		}
		r.Versions[tls.VersionName(v)] += n
	}
}

package authhttp

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"mailproxy/codec"
)

// authDial dials the auth server for fasthttp (HostClient.DialTimeout) and
// wraps the connection in an authConn.
func (c *Client) authDial(addr string, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = authDialFallback
	}
	nc, gen, err := c.authDialRaw(time.Now().Add(timeout))
	if err != nil {
		return nil, err
	}
	ac := &authConn{rec: make([]byte, 0, codec.AuthMaxResponse+1), turn: make(chan struct{}, 1), redial: c.authDialRaw, res: c.res}
	ac.peekFD = ac.peek
	ac.readFD = ac.rawRead
	ac.use(nc, gen)
	if w := c.waker.Load(); w != nil && ac.raw != nil {
		if wt, err := (*w)(); err == nil {
			ac.wait = wt
		}
	}
	return ac, nil
}

// Waiter is a doorbell that an event loop rings when a socket is
// readable (loop/authwake.go): an authConn with one waits on C instead of
// parking in Go's netpoller, so that the answer wakes the loop and the
// worker runs on the loop's thread. Arm makes the socket's next
// readability ring it once; after Close, or once the loop is gone, Arm
// fails and C is closed, and the connection reads through Go's netpoller.
type Waiter interface {
	Arm(fd int) error
	C() <-chan struct{}
	Close()
}

// SetWaker gives the connections c dials from now on a Waiter each (plain
// TCP and unix: sockets; https:// keeps Go's netpoller).
func (c *Client) SetWaker(w func() (Waiter, error)) { c.waker.Store(&w) }

// authDialRaw opens one connection to the auth server, by deadline: a
// host name's addresses in turn (resolve.go) until one accepts, then, for
// https://, the TLS handshake, so that authConn reads plaintext. gen is
// the generation of the name's address set before the addresses were
// taken (authAddrs.retired).
func (c *Client) authDialRaw(deadline time.Time) (_ net.Conn, gen uint64, _ error) {
	if deadline.IsZero() {
		deadline = time.Now().Add(authDialFallback)
	}
	network, addrs := "tcp", []string{c.addr}
	if len(c.addr) > 5 && c.addr[:5] == "unix:" {
		network, addrs = "unix", []string{c.addr[5:]}
	} else if c.res != nil {
		gen = c.res.gen.Load()
		var err error
		if addrs, err = c.res.candidates(deadline); err != nil {
			return nil, 0, &net.OpError{Op: "dial", Net: network, Err: err}
		}
	}
	var nc net.Conn
	var err error
	for i, a := range addrs {
		// Each address gets an equal share of the time left, so that one
		// that drops packets leaves time for the next (as net.Dialer does
		// for the addresses of a name).
		d := net.Dialer{Deadline: deadline}
		if left := len(addrs) - i; left > 1 {
			d.Deadline = time.Now().Add(time.Until(deadline) / time.Duration(left))
		}
		if nc, err = d.Dial(network, a); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return nil, 0, err
	}
	c.opened.Add(1)
	if c.tls == nil {
		return nc, gen, nil
	}
	tc := tls.Client(nc, c.tls)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	err = tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		nc.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, 0, err
		}
		return nil, 0, &authTLSError{err: err}
	}
	return tc, gen, nil
}

// authTLSError is a failed handshake with an https:// auth server.
type authTLSError struct{ err error }

func (e *authTLSError) Error() string { return "tls handshake: " + e.err.Error() }
func (e *authTLSError) Unwrap() error { return e.err }

// authConn is one connection to the auth server as fasthttp sees it. It
// keeps each answer with the request it was read for (DESIGN.md: an answer
// belongs to the request in flight on its connection, and stray bytes
// close the connection):
//
//   - a request's turn: the first write of a request takes turn, and Do
//     gives it back (done) only when it has parsed the answer and settled
//     the connection. fasthttp pools a connection early when the answer
//     can have no body (204, 304), so without the turn another call could
//     write, and reset the recording, while Do still reads it;
//   - before a request goes out on a connection that served one before,
//     authConn looks, without blocking, for bytes (or a close) that came
//     while no request was in flight, and for the mark settle leaves when
//     an answer had bytes beyond its end or a body not all there, and
//     (for a host name) whether its address is still one of the name's.
//     Any of these, and the connection is closed and the request goes out
//     on a new one (replace), the auth server sees it once, there;
//   - the first bytes read after each request are recorded, up to one byte
//     more than nginx's response buffer, with a count of all bytes read,
//     so that Do parses the answer by nginx's rules from the raw bytes and
//     settle can tell where the answer ends.
//
// nginx accepts a response without a status line (reference §2.5); for
// fasthttp's sake authConn then puts "HTTP/1.0 200 OK" in front of what
// fasthttp reads (not of the recording), which also makes fasthttp close
// the connection afterwards, as nginx does. Whether a status line is there
// is decided on the bytes of the first read: a prefix of "HTTP/" counts.
//
// Goroutines: only the call holding the connection (fasthttp hands it to
// one request at a time; turn covers the early pooling) writes, reads and
// replaces it; fasthttp's idle cleaner may Close it while it is pooled.
type authConn struct {
	net.Conn // replaced by replace, only while a request holds the turn
	local    authConnAddr
	raw      syscall.RawConn // nil: no peek (not a socket)
	tc       *tls.Conn       // https://: the TLS connection (Conn)
	peekFD   func(fd uintptr) bool
	peekN    int
	peekErr  error
	peekBuf  [1]byte
	redial   func(deadline time.Time) (net.Conn, uint64, error)
	wdl      time.Time  // the write deadline fasthttp set, for a redial
	res      *authAddrs // a host name's address set; nil for an IP or unix:
	gen      uint64     // res's generation when the socket was dialed (authAddrs.retired)

	turn chan struct{} // holds one token from a request's first write until done

	wait   Waiter // nil: reads park in Go's netpoller
	readFD func(fd uintptr) bool
	rbuf   []byte // rawRead's buffer and results
	rn     int
	rerr   error
	rfd    int
	rdl    time.Time // the read deadline fasthttp set
	timer  *time.Timer

	mu      sync.Mutex
	rec     []byte
	got     int    // bytes read from the socket since the request was written
	fresh   bool   // nothing of the current response was read yet
	pending []byte // bytes owed to the reader before the next socket read
	reqs    int    // requests written on this socket: writes while fresh belong to the same one
	held    bool   // turn is taken
	spoilt  bool   // the last answer did not end cleanly: replace before the next request
}

// use makes nc, dialed at generation gen of the name's addresses, the
// connection's socket.
func (a *authConn) use(nc net.Conn, gen uint64) {
	a.Conn = nc
	a.gen = gen
	a.local.Addr, a.local.c = nc.LocalAddr(), a
	a.raw = nil
	a.tc, _ = nc.(*tls.Conn)
	if a.tc != nil {
		return // readable looks through the TLS layer instead (tlsReadable)
	}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			a.raw = rc
		}
	}
}

// reused reports whether the socket carried a request before the current
// one.
func (a *authConn) reused() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reqs > 1
}

// SetWriteDeadline remembers the deadline, which also bounds a redial.
func (a *authConn) SetWriteDeadline(t time.Time) error {
	a.wdl = t
	return a.Conn.SetWriteDeadline(t)
}

const authStatusLine = "HTTP/1.0 200 OK\r\n"

func (a *authConn) Write(b []byte) (int, error) {
	a.mu.Lock()
	start := !a.fresh
	a.mu.Unlock()
	if start {
		a.turn <- struct{}{}
		a.mu.Lock()
		a.held = true
		a.got = 0 // before a replacement dial that may fail: nothing of this answer yet
		replace := a.spoilt || (a.reqs > 0 && (a.moved() || a.readable()))
		a.mu.Unlock()
		if replace {
			if err := a.replace(); err != nil {
				return 0, err
			}
		}
		a.mu.Lock()
		a.reqs++
		a.rec = a.rec[:0]
		a.got = 0
		a.fresh = true
		a.pending = nil
		a.mu.Unlock()
	}
	return a.Conn.Write(b)
}

// moved reports whether the socket's address left the host name's
// address set since it was dialed: the request goes out on a new
// connection, to an address the name has now, so that a kept-alive
// connection does not hold traffic on an address the DNS dropped.
// The name is looked up again first when its set is due, by the
// request's write deadline.
func (a *authConn) moved() bool {
	if a.res == nil {
		return false
	}
	dl := a.wdl
	if dl.IsZero() {
		dl = time.Now().Add(authDialFallback)
	}
	return a.res.retired(a.Conn.RemoteAddr(), &a.gen, dl)
}

// readable reports whether the idle socket has something to read: bytes
// nobody asked for, the server's close, or an error. It must not block,
// and an expired read deadline (the previous call's) would fail the look
// before it is taken, so the deadline is cleared first; fasthttp sets the
// next one after the request is written.
func (a *authConn) readable() bool {
	if a.tc != nil {
		return a.tlsReadable()
	}
	if a.raw == nil {
		return false
	}
	_ = a.Conn.SetReadDeadline(time.Time{})
	if err := a.raw.Read(a.peekFD); err != nil {
		return true
	}
	switch a.peekErr {
	case nil:
		return true // a byte (n > 0) or the close (n == 0)
	case syscall.EAGAIN, syscall.EINTR:
		return false
	}
	return true
}

// tlsReadable is readable over TLS: a peek at the socket would see TLS
// records that carry no data (a session ticket) and miss data tls.Conn
// already decrypted, so it reads one byte with a deadline in the past.
// A timeout leaves tls.Conn usable (crypto/tls keeps no error for it);
// a byte read is a stray one, and the connection is replaced anyway.
func (a *authConn) tlsReadable() bool {
	_ = a.tc.SetReadDeadline(time.Unix(1, 0))
	_, err := a.tc.Read(a.peekBuf[:])
	_ = a.tc.SetReadDeadline(time.Time{})
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// Handshake is there for fasthttp: a dialed conn with this method counts
// as TLS already (https:// connections shook hands in authDialRaw), so
// fasthttp does not put its own tls.Client over the recording.
func (a *authConn) Handshake() error { return nil }

// peek is the RawConn callback of readable: one non-blocking MSG_PEEK.
func (a *authConn) peek(fd uintptr) bool {
	a.peekN, _, a.peekErr = syscall.Recvfrom(int(fd), a.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}

// replace closes the socket and dials a new one for the request about to
// be written, within the write deadline fasthttp set for it.
func (a *authConn) replace() error {
	_ = a.Conn.Close()
	nc, gen, err := a.redial(a.wdl)
	if err != nil {
		return err
	}
	if !a.wdl.IsZero() {
		if err := nc.SetWriteDeadline(a.wdl); err != nil {
			nc.Close()
			return err
		}
	}
	a.mu.Lock()
	a.use(nc, gen)
	a.reqs = 0
	a.spoilt = false
	a.mu.Unlock()
	return nil
}

func (a *authConn) Read(b []byte) (int, error) {
	a.mu.Lock()
	if len(a.pending) > 0 {
		n := copy(b, a.pending)
		a.pending = a.pending[n:]
		a.mu.Unlock()
		return n, nil
	}
	a.mu.Unlock()
	n, err := a.sockRead(b)
	if n <= 0 {
		return n, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got += n
	if room := cap(a.rec) - len(a.rec); room > 0 {
		a.rec = append(a.rec, b[:min(n, room)]...)
	}
	if a.fresh {
		a.fresh = false
		if !authHasStatusPrefix(b[:n]) {
			a.pending = append([]byte(authStatusLine), b[:n]...)
			n = copy(b, a.pending)
			a.pending = a.pending[n:]
			if len(a.pending) > 0 {
				err = nil // delivered with the rest; the socket repeats it
			}
		}
	}
	return n, err
}

// sockRead reads the socket: through Go's netpoller, or, with a Waiter,
// by non-blocking reads that wait on the loop's doorbell in between.
func (a *authConn) sockRead(b []byte) (int, error) {
	if a.wait == nil || a.raw == nil {
		return a.Conn.Read(b)
	}
	for {
		a.rbuf = b
		err := a.raw.Read(a.readFD)
		a.rbuf = nil
		if err != nil {
			return 0, err // closed
		}
		switch a.rerr {
		case nil:
			if a.rn == 0 {
				return 0, io.EOF
			}
			return a.rn, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
		default:
			return 0, &net.OpError{Op: "read", Net: "tcp", Addr: a.Conn.RemoteAddr(), Err: os.NewSyscallError("read", a.rerr)}
		}
		if a.wait.Arm(a.rfd) != nil {
			a.wait = nil // the loop is gone: Go's netpoller from now on
			return a.Conn.Read(b)
		}
		if !a.ring() {
			return 0, &net.OpError{Op: "read", Net: "tcp", Addr: a.Conn.RemoteAddr(), Err: os.ErrDeadlineExceeded}
		}
	}
}

// rawRead is sockRead's RawConn callback: one non-blocking read.
func (a *authConn) rawRead(fd uintptr) bool {
	a.rn, a.rerr = syscall.Read(int(fd), a.rbuf)
	if a.rn < 0 {
		a.rn = 0
	}
	a.rfd = int(fd)
	return true
}

// ring waits for the doorbell until the read deadline; false: the
// deadline passed.
func (a *authConn) ring() bool {
	if a.rdl.IsZero() {
		<-a.wait.C()
		return true
	}
	d := time.Until(a.rdl)
	if d <= 0 {
		return false
	}
	if a.timer == nil {
		a.timer = time.NewTimer(d)
	} else {
		a.timer.Reset(d)
	}
	select {
	case <-a.wait.C():
		a.timer.Stop()
		return true
	case <-a.timer.C:
		return false
	}
}

// SetReadDeadline remembers the deadline for the doorbell's wait too.
func (a *authConn) SetReadDeadline(t time.Time) error {
	a.rdl = t
	return a.Conn.SetReadDeadline(t)
}

// SetDeadline is SetReadDeadline and SetWriteDeadline.
func (a *authConn) SetDeadline(t time.Time) error {
	a.rdl, a.wdl = t, t
	return a.Conn.SetDeadline(t)
}

// Close closes the socket and the connection's doorbell.
func (a *authConn) Close() error {
	if a.wait != nil {
		a.wait.Close()
	}
	return a.Conn.Close()
}

// authHasStatusPrefix: b starts with "HTTP/", or with a prefix of it.
func authHasStatusPrefix(b []byte) bool {
	const p = "HTTP/"
	for i := 0; i < len(b) && i < len(p); i++ {
		if b[i] != p[i] {
			return false
		}
	}
	return true
}

// LocalAddr lets Do find this conn from fasthttp's Response.LocalAddr.
func (a *authConn) LocalAddr() net.Addr { return &a.local }

func (a *authConn) parse(out *codec.AuthResponse) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return codec.ParseAuthResponse(a.rec, out)
}

// settle decides, once the header block is parsed, whether the connection
// may serve another request, without waiting for anything: only when the
// bytes read so far end exactly where the answer ends (the header block
// and the body its headers announce). Then a body, already in fasthttp's
// buffer, is read out of it (a read deadline in the past makes any socket
// read fail instead of waiting); otherwise the connection is closed, or,
// when fasthttp already pooled it, marked so that the next request
// replaces it. The protocol does not use the body (nginx acts on the
// header block), so nothing waits for one.
func (a *authConn) settle(resp *fasthttp.Response) {
	n := resp.Header.ContentLength() // -1 chunked, -2 until close
	if code := resp.Header.StatusCode(); code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified {
		n = 0 // fasthttp reads no body after these
	}
	a.mu.Lock()
	keep := authAnswerEndsAt(a.rec, a.got, n)
	if !keep {
		a.spoilt = true
	}
	a.mu.Unlock()
	if !keep {
		resp.SetConnectionClose()
		return
	}
	if bs := resp.BodyStream(); bs != nil && n != 0 {
		_ = a.Conn.SetReadDeadline(time.Unix(1, 0))
		if _, err := io.Copy(io.Discard, bs); err != nil {
			resp.SetConnectionClose()
		}
	}
}

// answered reports whether any byte of an answer arrived for the current
// request.
func (a *authConn) answered() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.got > 0
}

// done gives the connection's turn back; Do calls it last.
func (a *authConn) done() {
	a.mu.Lock()
	held := a.held
	a.held = false
	a.mu.Unlock()
	if held {
		<-a.turn
	}
}

// authConnAddr is the local address of an authConn, pointing back to it.
type authConnAddr struct {
	net.Addr
	c *authConn
}

func (a *authConnAddr) String() string {
	if a.Addr == nil {
		return ""
	}
	return a.Addr.String()
}

func (a *authConnAddr) Network() string {
	if a.Addr == nil {
		return ""
	}
	return a.Addr.Network()
}

func authConnOf(a net.Addr) *authConn {
	if x, ok := a.(*authConnAddr); ok {
		return x.c
	}
	return nil
}

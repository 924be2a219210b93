package mailtls

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"time"
)

// The adapter (gnet-notes §4): gnet has no TLS, so a session's
// crypto/tls conn runs over an in-memory net.Conn, the shim below, in two
// phases.
//
//   - Handshake: tls.Conn.HandshakeContext runs in a goroutine that exists
//     only once the handshake has work to do (ShouldStart): at once for a
//     backend (the client speaks first), after the peer's first complete
//     record for a client. The loop feeds it ciphertext from OnTraffic;
//     the shim's Read blocks on a condition variable; its Write hands
//     copies to the loop (post). While it computes it holds a runnable
//     slot of its side's gate; it gives the slot back whenever its Read
//     waits for the peer. No deadline here: the session's timer closes the
//     session, whose Abort wakes the goroutine.
//   - Data: once the goroutine has ended and the loop has run the done
//     callback, every tls.Conn call happens on the loop. The shim's Read
//     takes the handshake's leftovers, then gnet's buffered bytes, and
//     when both are empty returns tlsWouldBlock, a net.Error whose
//     Temporary() is true: crypto/tls keeps partial records and does not
//     record the error as permanent (conn.go readRecordOrCCS), so Read is
//     simply called again on the next OnTraffic. TestTLSWouldBlockContract
//     fails if a Go upgrade changes that.
//
// Never call tls.Conn methods from OnClose: gnet may run OnClose inside a
// failing Write that tls.Conn.Write issued while holding its own lock.

// RunnableHandshakes bounds, per side (clients, backends), the handshake
// goroutines computing at the same time: a flood of ClientHellos queues
// for the CPU instead of crowding out the event loops, and client
// handshakes never take a backend's turn. A handshake waiting for its
// peer holds no slot, and a handshake that finds none waits for one: no
// connection is refused for it. Silent and waiting handshakes are bounded
// by the session's timeout and the connection caps.
// Read-only: the gates are sized at start-up.
var RunnableHandshakes = max(4, 2*runtime.GOMAXPROCS(0))

// HandshakeBuffer bounds the ciphertext a peer may send before its
// Handshake completes (a ClientHello with a post-quantum key share and a
// client certificate chain fit well below it).
const HandshakeBuffer = 64 << 10

// gate is a counting semaphore of runnable handshakes.
type gate chan struct{}

var (
	clientGate  = make(gate, RunnableHandshakes)
	backendGate = make(gate, RunnableHandshakes)
)

// ErrBufferFull is returned when a peer sends more than
// HandshakeBuffer bytes during its handshake.
var ErrBufferFull = errors.New("peer sent too much data during the TLS handshake")

// tlsWouldBlock is what the shim's Read returns on the loop when no
// ciphertext is buffered.
type tlsWouldBlockError struct{}

func (tlsWouldBlockError) Error() string   { return "tls: would block" }
func (tlsWouldBlockError) Timeout() bool   { return true }
func (tlsWouldBlockError) Temporary() bool { return true }

var tlsWouldBlock net.Error = tlsWouldBlockError{}

// Raw is the transport under the shim in the data phase: a gnet.Conn,
// used only on its loop (Read copies from gnet's inbound buffer, Write
// copies what the socket does not take).
type Raw interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
}

// tlsShim is the net.Conn under a tls.Conn. In the handshake phase in and
// closed are shared by the loop (feed, abort) and the handshake goroutine
// (Read, Write) under mu; in the data phase only the loop touches it.
type tlsShim struct {
	mu     sync.Mutex
	cond   sync.Cond
	in     []byte // ciphertext received and not yet read by crypto/tls
	onLoop bool   // data phase
	closed bool
	done   chan struct{} // closed with closed: wakes a wait for a slot
	raw    Raw
	// post sends handshake bytes to the peer from the handshake goroutine:
	// it must copy b and write it on the loop.
	post func(b []byte)
	gate gate
	held bool // the handshake goroutine holds a slot of gate (its own field)
}

// acquire takes a runnable slot for the handshake goroutine, waiting for
// one; false if the shim is closed first.
func (sh *tlsShim) acquire() bool {
	if sh.held {
		return true
	}
	select {
	case sh.gate <- struct{}{}:
		sh.held = true
		return true
	case <-sh.done:
		return false
	}
}

// release gives the slot back, if held. Never blocks.
func (sh *tlsShim) release() {
	if sh.held {
		sh.held = false
		<-sh.gate
	}
}

func (sh *tlsShim) Read(p []byte) (int, error) {
	sh.mu.Lock()
	if sh.onLoop {
		sh.mu.Unlock()
		return sh.loopRead(p)
	}
	if len(sh.in) == 0 && !sh.closed {
		// Waiting for the peer is not work: the slot goes while we wait.
		sh.release()
		for len(sh.in) == 0 && !sh.closed {
			sh.cond.Wait()
		}
	}
	if len(sh.in) == 0 {
		sh.mu.Unlock()
		return 0, net.ErrClosed
	}
	if !sh.held {
		// Not under mu: Feed and Abort must never wait for a slot.
		sh.mu.Unlock()
		if !sh.acquire() {
			return 0, net.ErrClosed
		}
		sh.mu.Lock()
	}
	// in can only have grown meanwhile: the loop appends, we consume.
	n := copy(p, sh.in)
	sh.in = sh.in[:copy(sh.in, sh.in[n:])]
	sh.mu.Unlock()
	return n, nil
}

// loopRead is the data-phase Read, on the loop.
func (sh *tlsShim) loopRead(p []byte) (int, error) {
	if sh.closed {
		return 0, net.ErrClosed
	}
	if len(sh.in) > 0 {
		n := copy(p, sh.in)
		sh.in = sh.in[:copy(sh.in, sh.in[n:])]
		if len(sh.in) == 0 {
			sh.in = nil
		}
		return n, nil
	}
	if sh.raw == nil {
		return 0, tlsWouldBlock
	}
	n, _ := sh.raw.Read(p)
	if n == 0 {
		return 0, tlsWouldBlock
	}
	return n, nil
}

func (sh *tlsShim) Write(p []byte) (int, error) {
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return 0, net.ErrClosed
	}
	if sh.onLoop {
		sh.mu.Unlock()
		if sh.raw == nil {
			return 0, net.ErrClosed
		}
		return sh.raw.Write(p)
	}
	sh.mu.Unlock()
	sh.post(p)
	return len(p), nil
}

// Close wakes a blocked handshake Read (or a wait for a slot). It does
// not close the gnet conn: the loop does that.
func (sh *tlsShim) Close() error {
	sh.mu.Lock()
	if !sh.closed {
		sh.closed = true
		close(sh.done)
	}
	sh.cond.Broadcast()
	sh.mu.Unlock()
	return nil
}

func (sh *tlsShim) LocalAddr() net.Addr              { return tlsAddr{} }
func (sh *tlsShim) RemoteAddr() net.Addr             { return tlsAddr{} }
func (sh *tlsShim) SetDeadline(time.Time) error      { return nil }
func (sh *tlsShim) SetReadDeadline(time.Time) error  { return nil }
func (sh *tlsShim) SetWriteDeadline(time.Time) error { return nil }

type tlsAddr struct{}

func (tlsAddr) Network() string { return "gnet" }
func (tlsAddr) String() string  { return "gnet" }

// Conn is one side's TLS state: the tls.Conn, its shim and, for the
// client side before auth, the decrypted bytes protocol code has not
// consumed yet. Owned by the session's loop, except the shim fields noted
// above while the handshake goroutine runs.
type Conn struct {
	TC    *tls.Conn // nil until ShouldStart reports true
	shim  *tlsShim
	cfg   *tls.Config
	srv   bool   // the server side: waits for the peer's first record
	run   bool   // ShouldStart has reported true
	Ready bool   // handshake done and the shim is on the loop
	Plain []byte // decrypted, not yet consumed (pre-auth parsing)
	RErr  error  // a fatal read error, reported once Plain is consumed
	Peer  Peer   // the client certificate's check (verify.go)
	// Done is the owner's: what to run on the loop when Handshake has
	// returned. mailtls does not call it.
	Done func(err error)
}

func newTLSShim(raw Raw, post func([]byte), g gate) *tlsShim {
	sh := &tlsShim{raw: raw, post: post, gate: g, done: make(chan struct{})}
	sh.cond.L = &sh.mu
	return sh
}

// NewServerConn wraps the client side of a session. Nothing runs until
// the client's first record has come (ShouldStart).
func NewServerConn(raw Raw, post func([]byte), cfg *tls.Config) *Conn {
	return &Conn{shim: newTLSShim(raw, post, clientGate), cfg: cfg, srv: true}
}

// NewClientConn wraps a backend connection. Its handshake has work at
// once (the ClientHello) and draws on the backends' gate.
func NewClientConn(raw Raw, post func([]byte), cfg *tls.Config) *Conn {
	return &Conn{shim: newTLSShim(raw, post, backendGate), cfg: cfg}
}

// Feed hands ciphertext to the handshake (running or not yet started).
// Called on the loop.
func (t *Conn) Feed(b []byte) error {
	sh := t.shim
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.in)+len(b) > HandshakeBuffer {
		return ErrBufferFull
	}
	sh.in = append(sh.in, b...)
	sh.cond.Signal()
	return nil
}

// ShouldStart reports, once, that the handshake has work to do and its
// goroutine (Handshake) should now be started: at once for a backend;
// for a client when its first record is complete, or when the bytes
// cannot begin a TLS handshake (crypto/tls then fails them with its own
// error and alert). Until then a silent or trickling client costs its
// buffered bytes and no goroutine. Called on the loop.
func (t *Conn) ShouldStart() bool {
	if t.run || t.Ready {
		return false
	}
	if t.srv {
		sh := t.shim
		sh.mu.Lock()
		ok := !sh.closed && firstRecordIn(sh.in)
		sh.mu.Unlock()
		if !ok {
			return false
		}
	}
	t.run = true
	t.newTC()
	return true
}

func (t *Conn) newTC() {
	if t.TC != nil {
		return
	}
	if t.srv {
		t.TC = tls.Server(t.shim, t.cfg)
	} else {
		t.TC = tls.Client(t.shim, t.cfg)
	}
}

// firstRecordIn reports whether b holds a whole first TLS record, or
// enough to tell it is not a handshake record crypto/tls would accept.
func firstRecordIn(b []byte) bool {
	const header = 5
	if len(b) == 0 {
		return false
	}
	if b[0] != 0x16 { // not a handshake record (plaintext, SSLv2...)
		return true
	}
	if len(b) < header {
		return false
	}
	n := int(b[3])<<8 | int(b[4])
	if n > 1<<14 { // over a plaintext record's maximum: crypto/tls refuses it
		return true
	}
	return len(b) >= header+n
}

// Handshake runs the handshake to completion, failure or ctx's end (the
// loop passes a context without deadline and ends a handshake by Abort).
// It is the body of the handshake goroutine and the only tls.Conn call
// made off the loop; it holds a slot of its side's gate only while
// crypto/tls computes.
func (t *Conn) Handshake(ctx context.Context) error {
	t.newTC()
	sh := t.shim
	defer sh.release()
	if !sh.acquire() {
		return net.ErrClosed
	}
	return t.TC.HandshakeContext(ctx)
}

// ToLoop switches to the data phase. Called on the loop once the handshake
// goroutine has finished.
func (t *Conn) ToLoop() {
	sh := t.shim
	sh.mu.Lock()
	sh.onLoop = true
	// The handshake's buffer goes; only leftovers are kept, in a buffer
	// of their size (an idle session holds none).
	if len(sh.in) == 0 {
		sh.in = nil
	} else {
		sh.in = append([]byte(nil), sh.in...)
	}
	sh.mu.Unlock()
	t.Ready = true
	t.Trim()
}

// Abort ends the TLS state from the loop: a running handshake goroutine
// wakes up and fails; later calls fail.
func (t *Conn) Abort() { _ = t.shim.Close() }

// Read decrypts into p. It returns 0, nil when no complete record is
// buffered; a non-nil error is fatal (including io.EOF after close_notify).
// Called on the loop in the data phase.
func (t *Conn) Read(p []byte) (int, error) {
	n, err := t.TC.Read(p)
	if err != nil {
		if errors.Is(err, tlsWouldBlock) {
			return n, nil
		}
		if n > 0 {
			t.RErr = err
			return n, nil
		}
		return 0, err
	}
	return n, nil
}

// Pump decrypts what is buffered into t.Plain until it holds at least
// limit bytes or nothing more is available. Called on the loop. A Pump
// that finds no whole record keeps no buffer: the first read goes to a
// shared scratch buffer and t.Plain is made only for bytes that came, so
// an idle session holds no decrypted buffer and, once crypto/tls's input
// is empty, none of crypto/tls's either (Trim).
func (t *Conn) Pump(limit int) {
	for t.RErr == nil && len(t.Plain) < limit {
		var n int
		var err error
		if len(t.Plain) == 0 {
			bp := pumpScratch.Get().(*[]byte)
			n, err = t.Read((*bp)[:min(limit, len(*bp))])
			if n > 0 {
				t.Plain = append(make([]byte, 0, n+512), (*bp)[:n]...)
			}
			pumpScratch.Put(bp)
		} else {
			if cap(t.Plain)-len(t.Plain) < 512 {
				grown := make([]byte, len(t.Plain), 2*cap(t.Plain)+4096)
				copy(grown, t.Plain)
				t.Plain = grown
			}
			n, err = t.Read(t.Plain[len(t.Plain):cap(t.Plain)])
			t.Plain = t.Plain[:len(t.Plain)+n]
		}
		if err != nil {
			t.RErr = err
			return
		}
		if n == 0 {
			t.Trim()
			return
		}
	}
}

// pumpScratch holds Pump's first-read buffers: a plaintext record's
// maximum, one in use at a time per loop.
var pumpScratch = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// Consume drops n decrypted bytes from the front of t.Plain; a buffer that
// empties is released, so an idle session holds none.
func (t *Conn) Consume(n int) {
	if n >= len(t.Plain) {
		t.Plain = nil
		return
	}
	t.Plain = t.Plain[:copy(t.Plain, t.Plain[n:])]
}

// Write encrypts b to the peer. Called on the loop in the data phase.
func (t *Conn) Write(b []byte) error {
	_, err := t.TC.Write(b)
	return err
}

// Buffered reports ciphertext kept by the shim and plaintext not consumed.
// In the data phase it is at least 1: crypto/tls may hold whole records
// it read ahead (during the handshake, too), which only a read reveals.
func (t *Conn) Buffered() int {
	n := len(t.Plain) + len(t.shim.in)
	if t.Ready {
		n++
	}
	return n
}

// CloseNotify sends a close_notify alert. Called on the loop, never from
// OnClose, and only in the data phase.
func (t *Conn) CloseNotify() {
	if t.Ready && !t.shim.closed {
		_ = t.TC.CloseWrite()
	}
}

// IsEOF reports whether a TLS read error is a clean end of stream.
func IsEOF(err error) bool {
	return errors.Is(err, io.EOF)
}

package loop

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// The TLS adapter (gnet-notes §4): gnet has no TLS, so a session's
// crypto/tls conn runs over an in-memory net.Conn, the shim below, in two
// phases.
//
//   - Handshake: tls.Conn.HandshakeContext runs in a short-lived goroutine
//     (bounded by tlsHandshakeSlots, deadline = the server's timeout). The
//     loop feeds it ciphertext from OnTraffic; the shim's Read blocks on a
//     condition variable; its Write hands copies to the loop (post).
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

// tlsHandshakeSlots bounds the handshakes in flight in the whole process:
// slow or silent ClientHellos cannot pile up goroutines. A connection that
// finds no slot is closed.
const tlsHandshakeSlots = 4096

// tlsHandshakeBuffer bounds the ciphertext a peer may send before its
// handshake completes (a ClientHello with a post-quantum key share and a
// client certificate chain fit well below it).
const tlsHandshakeBuffer = 64 << 10

var tlsSlots = make(chan struct{}, tlsHandshakeSlots)

// errTLSBusy is returned when every handshake slot is taken.
var errTLSBusy = errors.New("too many TLS handshakes in progress")

// errTLSBufferFull is returned when a peer sends more than
// tlsHandshakeBuffer bytes during its handshake.
var errTLSBufferFull = errors.New("peer sent too much data during the TLS handshake")

// tlsWouldBlock is what the shim's Read returns on the loop when no
// ciphertext is buffered.
type tlsWouldBlockError struct{}

func (tlsWouldBlockError) Error() string   { return "tls: would block" }
func (tlsWouldBlockError) Timeout() bool   { return true }
func (tlsWouldBlockError) Temporary() bool { return true }

var tlsWouldBlock net.Error = tlsWouldBlockError{}

// tlsRaw is the transport under the shim in the data phase: a gnet.Conn,
// used only on its loop (Read copies from gnet's inbound buffer, Write
// copies what the socket does not take).
type tlsRaw interface {
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
	raw    tlsRaw
	// post sends handshake bytes to the peer from the handshake goroutine:
	// it must copy b and write it on the loop.
	post func(b []byte)
}

func (sh *tlsShim) Read(p []byte) (int, error) {
	sh.mu.Lock()
	if sh.onLoop {
		sh.mu.Unlock()
		return sh.loopRead(p)
	}
	for len(sh.in) == 0 && !sh.closed {
		sh.cond.Wait()
	}
	if len(sh.in) == 0 {
		sh.mu.Unlock()
		return 0, net.ErrClosed
	}
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

// Close wakes a blocked handshake Read; crypto/tls calls it when the
// handshake context expires. It does not close the gnet conn: the loop
// does that.
func (sh *tlsShim) Close() error {
	sh.mu.Lock()
	sh.closed = true
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

// tlsConn is one side's TLS state: the tls.Conn, its shim and, for the
// client side before auth, the decrypted bytes protocol code has not
// consumed yet. Owned by the session's loop, except the shim fields noted
// above while the handshake goroutine runs.
type tlsConn struct {
	tc    *tls.Conn
	shim  *tlsShim
	ready bool   // handshake done and the shim is on the loop
	plain []byte // decrypted, not yet consumed (pre-auth parsing)
	rerr  error  // a fatal read error, reported once plain is consumed
	peer  tlsPeer
}

func newTLSShim(raw tlsRaw, post func([]byte)) *tlsShim {
	sh := &tlsShim{raw: raw, post: post}
	sh.cond.L = &sh.mu
	return sh
}

// newTLSServerConn wraps the client side of a session.
func newTLSServerConn(raw tlsRaw, post func([]byte), cfg *tls.Config) *tlsConn {
	sh := newTLSShim(raw, post)
	return &tlsConn{tc: tls.Server(sh, cfg), shim: sh}
}

// newTLSClientConn wraps a backend connection.
func newTLSClientConn(raw tlsRaw, post func([]byte), cfg *tls.Config) *tlsConn {
	sh := newTLSShim(raw, post)
	return &tlsConn{tc: tls.Client(sh, cfg), shim: sh}
}

// feed hands ciphertext to the handshake goroutine. Called on the loop.
func (t *tlsConn) feed(b []byte) error {
	sh := t.shim
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.in)+len(b) > tlsHandshakeBuffer {
		return errTLSBufferFull
	}
	sh.in = append(sh.in, b...)
	sh.cond.Signal()
	return nil
}

// handshake runs the handshake to completion or timeout. It is the body of
// the handshake goroutine and the only tls.Conn call made off the loop.
func (t *tlsConn) handshake(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return t.tc.HandshakeContext(ctx)
}

// toLoop switches to the data phase. Called on the loop once the handshake
// goroutine has finished.
func (t *tlsConn) toLoop() {
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
	t.ready = true
}

// abort ends the TLS state from the loop: a running handshake goroutine
// wakes up and fails; later calls fail.
func (t *tlsConn) abort() { _ = t.shim.Close() }

// read decrypts into p. It returns 0, nil when no complete record is
// buffered; a non-nil error is fatal (including io.EOF after close_notify).
// Called on the loop in the data phase.
func (t *tlsConn) read(p []byte) (int, error) {
	n, err := t.tc.Read(p)
	if err != nil {
		if errors.Is(err, tlsWouldBlock) {
			return n, nil
		}
		if n > 0 {
			t.rerr = err
			return n, nil
		}
		return 0, err
	}
	return n, nil
}

// pump decrypts what is buffered into t.plain until it holds at least
// limit bytes or nothing more is available. Called on the loop.
func (t *tlsConn) pump(limit int) {
	for t.rerr == nil && len(t.plain) < limit {
		if cap(t.plain)-len(t.plain) < 512 {
			grown := make([]byte, len(t.plain), 2*cap(t.plain)+4096)
			copy(grown, t.plain)
			t.plain = grown
		}
		n, err := t.read(t.plain[len(t.plain):cap(t.plain)])
		t.plain = t.plain[:len(t.plain)+n]
		if err != nil {
			t.rerr = err
			return
		}
		if n == 0 {
			return
		}
	}
}

// consume drops n decrypted bytes from the front of t.plain; a buffer that
// empties is released, so an idle session holds none.
func (t *tlsConn) consume(n int) {
	if n >= len(t.plain) {
		t.plain = nil
		return
	}
	t.plain = t.plain[:copy(t.plain, t.plain[n:])]
}

// write encrypts b to the peer. Called on the loop in the data phase.
func (t *tlsConn) write(b []byte) error {
	_, err := t.tc.Write(b)
	return err
}

// buffered reports ciphertext kept by the shim and plaintext not consumed.
// In the data phase it is at least 1: crypto/tls may hold whole records
// it read ahead (during the handshake, too), which only a read reveals.
func (t *tlsConn) buffered() int {
	n := len(t.plain) + len(t.shim.in)
	if t.ready {
		n++
	}
	return n
}

// closeNotify sends a close_notify alert. Called on the loop, never from
// OnClose, and only in the data phase.
func (t *tlsConn) closeNotify() {
	if t.ready && !t.shim.closed {
		_ = t.tc.CloseWrite()
	}
}

// isEOF reports whether a TLS read error is a clean end of stream.
func tlsIsEOF(err error) bool {
	return errors.Is(err, io.EOF)
}

package loop

import (
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Session I/O that does not care whether a side speaks TLS. Protocol code
// reads the client with in/consume (gnet's buffered bytes for plain
// connections, the decrypted buffer for TLS) and writes with write; the
// backend dialogue uses bin/bconsume/bwrite the same way. A slice from in
// or bin is valid until the next consume/bconsume or the end of the
// callback, like gnet's Peek. All of it runs on the session's loop.

// tlsPumpSlack is how far past the command buffer the pre-auth decrypted
// buffer may grow: a parser needs limit+1 bytes to see that a command is
// too long.
const tlsPumpSlack = 1

// in returns the client's bytes not consumed yet.
func (s *session) in() []byte {
	c := s.client
	if c == nil {
		return nil
	}
	t := s.tls
	if t == nil {
		buf, _ := c.Peek(-1)
		return buf
	}
	if !t.ready {
		return nil
	}
	t.pump(s.clientBuffer() + tlsPumpSlack)
	if len(t.plain) == 0 && t.rerr != nil {
		s.tlsReadFailed(t.rerr)
		return nil
	}
	return t.plain
}

// consume drops n bytes returned by in.
func (s *session) consume(n int) {
	if s.client == nil || n <= 0 {
		return
	}
	if s.tls != nil {
		s.tls.consume(n)
		return
	}
	_, _ = s.client.Discard(n)
}

// inBuffered reports whether the client sent bytes not consumed yet (for
// TLS: ciphertext or plaintext).
func (s *session) inBuffered() int {
	if s.client == nil {
		return 0
	}
	n := s.client.InboundBuffered()
	if s.tls != nil {
		n += s.tls.buffered()
	}
	return n
}

// bin returns the backend's bytes not consumed yet.
func (s *session) bin() []byte {
	b := s.backend
	if b == nil {
		return nil
	}
	t := s.btls
	if t == nil {
		buf, _ := b.Peek(-1)
		return buf
	}
	if !t.ready {
		return nil
	}
	t.pump(s.cfg().ProxyBuffer + tlsPumpSlack)
	if len(t.plain) == 0 && t.rerr != nil {
		s.errorf("upstream TLS read failed", "err", t.rerr.Error())
		s.internalError("upstream tls error")
		return nil
	}
	return t.plain
}

// bconsume drops n bytes returned by bin.
func (s *session) bconsume(n int) {
	if s.backend == nil || n <= 0 {
		return
	}
	if s.btls != nil {
		s.btls.consume(n)
		return
	}
	_, _ = s.backend.Discard(n)
}

// binBuffered reports bytes the backend sent that are not consumed yet.
func (s *session) binBuffered() int {
	if s.backend == nil {
		return 0
	}
	n := s.backend.InboundBuffered()
	if s.btls != nil {
		n += s.btls.buffered()
	}
	return n
}

// bwrite sends b to the backend. Like write, it may run OnClose
// re-entrantly: callers re-check s.closed.
func (s *session) bwrite(b []byte) {
	if s.closed || s.backend == nil {
		return
	}
	if t := s.btls; t != nil {
		if t.ready {
			_ = t.write(b)
		}
		return
	}
	_, _ = s.backend.Write(b)
}

// tlsWrite is write for a TLS client: bytes before the handshake ends
// (there should be none) are dropped.
func (s *session) tlsWrite(b []byte) {
	if s.tls.ready {
		_ = s.tls.write(b)
	}
}

// tlsReadFailed ends a session whose client TLS stream failed or ended.
func (s *session) tlsReadFailed(err error) {
	if s.closed {
		return
	}
	if tlsIsEOF(err) {
		s.close("client closed")
		return
	}
	s.info("SSL read failed", "err", err.Error())
	s.close("ssl error")
}

// tlsCloseSides sends close_notify where a handshake finished and stops
// any handshake still running. Called from session.close, on the loop;
// OnClose has already cleared the side it runs for, so no tls.Conn of a
// conn inside a failing Write is touched here.
func (s *session) tlsCloseSides() {
	if t := s.tls; t != nil {
		if s.client != nil {
			t.closeNotify()
		}
		t.abort()
	}
	if t := s.btls; t != nil {
		if s.backend != nil {
			t.closeNotify()
		}
		t.abort()
	}
}

// tlsFeedClient hands ciphertext to a running client handshake. Called
// from OnTraffic.
func (s *session) tlsFeedClient(c gnet.Conn) {
	buf, _ := c.Next(-1)
	if err := s.tls.feed(buf); err != nil {
		s.info("SSL handshake failed", "err", err.Error())
		s.close("ssl error")
	}
}

// tlsFeedBackend is tlsFeedClient for the backend side.
func (s *session) tlsFeedBackend(c gnet.Conn) {
	buf, _ := c.Next(-1)
	if err := s.btls.feed(buf); err != nil {
		s.errorf("upstream SSL handshake failed", "err", err.Error())
		s.internalError("upstream ssl error")
	}
}

// tlsScratch holds the decryption buffers of the relay; one is used at a
// time per loop, so the pool stays at about one per loop.
var tlsScratch = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// relayRead moves everything readable from one side to the other: the
// plain conn's buffered bytes at once, or a TLS side's decrypted records
// one scratch buffer at a time. to is toBackend or toClient.
func (s *session) relayRead(fromClient bool) {
	src, t := s.client, s.tls
	to := s.toBackend
	if !fromClient {
		src, t = s.backend, s.btls
		to = s.toClient
	}
	if src == nil {
		return
	}
	if t == nil {
		buf, _ := src.Next(-1)
		to(buf)
		return
	}
	if !t.ready {
		return
	}
	if len(t.plain) > 0 {
		// Pipelined before the relay started: gnet copies what the socket
		// does not take, so the buffer can go at once.
		p := t.plain
		t.plain = nil
		to(p)
	}
	bp := tlsScratch.Get().(*[]byte)
	defer tlsScratch.Put(bp)
	buf := *bp
	for !s.closed && s.client != nil && s.backend != nil {
		n, err := t.read(buf)
		if n > 0 {
			to(buf[:n])
		}
		if err == nil && t.rerr != nil {
			err = t.rerr
		}
		if err != nil {
			if s.closed {
				return
			}
			if fromClient {
				s.tlsReadFailed(err)
			} else if tlsIsEOF(err) {
				s.close("upstream closed")
			} else {
				s.errorf("upstream SSL read failed", "err", err.Error())
				s.close("upstream ssl error")
			}
			return
		}
		if n == 0 {
			return
		}
	}
}

// toBackend relays client bytes. As in nginx, only client activity re-arms
// proxy_timeout.
func (s *session) toBackend(buf []byte) {
	if len(buf) == 0 {
		return
	}
	s.bytesToBackend += uint64(len(buf))
	s.srv.stats.Bytes(s.loop.idx, true, len(buf))
	s.deadline = time.Now().Add(s.cfg().ProxyTimeout).UnixNano()
	s.bwrite(buf)
}

// toClient relays backend bytes.
func (s *session) toClient(buf []byte) {
	if len(buf) == 0 {
		return
	}
	s.bytesToClient += uint64(len(buf))
	s.srv.stats.Bytes(s.loop.idx, false, len(buf))
	s.write(buf)
}

package loop

import (
	"sync"
	"time"

	"mailproxy/loop/mailtls"
)

// startRelay switches a logged-in session to relaying. The backend's login
// reply has been written to the client; bytes the client pipelined during
// login go to the backend now, and whatever the backend sent after its
// reply goes to the client. Called on the loop.
func (s *session) startRelay() {
	s.setPhase(PhaseRelay)
	s.srv.stats.SessionEstablished()
	s.info("client logged in")
	wipe(s.pass)
	wipe(s.backendPass)
	s.armProxyTimeout()
	s.resumeRead(true)
	if s.inBuffered() > 0 {
		s.relayFromClient()
	}
	if !s.closed && s.binBuffered() > 0 {
		s.relayFromBackend()
	}
}

func (s *session) armProxyTimeout() {
	s.loop.arm(s, time.Now().Add(s.cfg().ProxyTimeout).UnixNano())
}

// relayFromClient moves everything the client sent to the backend. As in
// nginx, only client activity re-arms proxy_timeout.
func (s *session) relayFromClient() {
	if s.client == nil || s.backend == nil {
		return
	}
	s.relayRead(true) // plain or decrypted
	b := s.backend
	if s.closed || b == nil {
		return
	}
	// Backpressure: the backend reads slower than the client writes.
	if b.OutboundBuffered() > s.clientBuffer() {
		s.pauseRead(true)
	}
}

// relayFromBackend moves everything the backend sent to the client.
func (s *session) relayFromBackend() {
	if s.client == nil || s.backend == nil {
		return
	}
	s.relayRead(false)
	c := s.client
	if s.closed || c == nil {
		return
	}
	if c.OutboundBuffered() > s.cfg().ProxyBuffer {
		s.pauseRead(false)
	}
}

// drainCheck resumes a paused direction once its destination has sent
// what it held. Called on the loop by the pause sweep.
func (s *session) drainCheck() {
	if s.phase == PhasePreAuth {
		s.preAuthDrainCheck()
		return
	}
	if s.phase != PhaseRelay {
		return
	}
	if s.flushing {
		if s.client == nil || s.client.OutboundBuffered() == 0 {
			s.close("upstream closed")
		}
		return
	}
	if s.clientPaused && s.backend != nil && s.backend.OutboundBuffered() == 0 {
		s.resumeRead(true)
	} else if s.clientPaused && s.backend != nil {
		s.pauseRead(true) // gnet may have re-enabled it after a write
	}
	if s.backendPaused && s.client != nil && s.client.OutboundBuffered() == 0 {
		s.resumeRead(false)
	} else if s.backendPaused && s.client != nil {
		s.pauseRead(false)
	}
}

// flushThenClose waits, within `timeout`, for the client to take what is
// queued for it, then closes. The backend is already gone; client input is
// no longer read. Called on the loop.
func (s *session) flushThenClose() {
	s.flushing = true
	s.clientPaused = false // so pauseRead registers the pause afresh
	s.pauseRead(true)
	if !s.inPausedList {
		s.inPausedList = true
		s.loop.paused = append(s.loop.paused, s)
		s.loop.markPaused()
	}
	s.armTimeout()
}

// closePreAuth says goodbye to every session of this loop that has not
// logged in and closes it. Used by drain. Called on the loop.
// Sessions younger than grace, or with client bytes not read yet, are
// left for a later pass (grace 0: none is). Called on the loop.
func (ls *loopState) closePreAuth(grace time.Duration) {
	for s := ls.head; s != nil; {
		next := s.next
		if !s.closed && s.phase == PhasePreAuth && (grace == 0 || (s.age() >= grace && s.inBuffered() == 0)) {
			s.onLoop("drain", s.goodbye)
		}
		s = next
	}
}

// goodbye sends the protocol's shutdown line and closes the session.
func (s *session) goodbye() {
	// A connection still sending its PROXY header has not been greeted:
	// like nginx, close it without a word.
	if s.wait != waitProxyHeader {
		s.write(s.srv.ops.goodbye)
	}
	s.close("shutdown")
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
	if !t.Ready {
		return
	}
	if len(t.Plain) > 0 {
		// Pipelined before the relay started: gnet copies what the socket
		// does not take, so the buffer can go at once.
		p := t.Plain
		t.Plain = nil
		to(p)
	}
	bp := tlsScratch.Get().(*[]byte)
	defer tlsScratch.Put(bp)
	buf := *bp
	total := 0
	for !s.closed && s.client != nil && s.backend != nil {
		n, err := t.Read(buf)
		if n > 0 {
			total += n
			to(buf[:n])
		}
		if err == nil && t.RErr != nil {
			err = t.RErr
		}
		if err != nil {
			if s.closed {
				return
			}
			if fromClient {
				s.tlsReadFailed(err)
			} else if mailtls.IsEOF(err) {
				s.close("upstream closed")
			} else {
				s.errorf("upstream SSL read failed", "err", err.Error())
				s.close("upstream ssl error")
			}
			return
		}
		if n == 0 {
			// An idle session should not keep crypto/tls's input buffers
			// (a record's size or more); a bulk transfer keeps them, so
			// that it does not allocate them again on every read.
			if total < trimBelow {
				t.Trim()
			}
			return
		}
	}
}

// trimBelow: a relay read of less than this (one event's plaintext) is
// interactive traffic, after which the TLS input buffers are released.
const trimBelow = 16 << 10

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

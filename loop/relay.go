package loop

import "time"

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
	s.relayRead(true) // tls_io.go: plain or decrypted
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
		s.loop.hasPaused.Store(true)
	}
	s.armTimeout()
}

// closePreAuth says goodbye to every session of this loop that has not
// logged in and closes it. Used by drain. Called on the loop.
func (ls *loopState) closePreAuth() {
	for s := ls.head; s != nil; {
		next := s.next
		if !s.closed && s.phase == PhasePreAuth {
			s.goodbye()
		}
		s = next
	}
}

// goodbye sends the protocol's shutdown line and closes the session.
func (s *session) goodbye() {
	// A connection still sending its PROXY header has not been greeted:
	// like nginx, close it without a word.
	if s.pp == nil || !s.pp.waiting {
		s.write(s.srv.ops.goodbye)
	}
	s.close("shutdown")
}

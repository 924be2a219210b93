package loop

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
	if !t.Ready {
		return nil
	}
	t.Pump(s.clientBuffer() + tlsPumpSlack)
	if len(t.Plain) == 0 && t.RErr != nil {
		s.tlsReadFailed(t.RErr)
		return nil
	}
	return t.Plain
}

// consume drops n bytes returned by in.
func (s *session) consume(n int) {
	if s.client == nil || n <= 0 {
		return
	}
	if s.tls != nil {
		s.tls.Consume(n)
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
		n += s.tls.Buffered()
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
	if !t.Ready {
		return nil
	}
	t.Pump(s.cfg().ProxyBuffer + tlsPumpSlack)
	if len(t.Plain) == 0 && t.RErr != nil {
		s.errorf("upstream TLS read failed", "err", t.RErr.Error())
		s.internalError("upstream tls error")
		return nil
	}
	return t.Plain
}

// bconsume drops n bytes returned by bin.
func (s *session) bconsume(n int) {
	if s.backend == nil || n <= 0 {
		return
	}
	if s.btls != nil {
		s.btls.Consume(n)
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
		n += s.btls.Buffered()
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
		if t.Ready {
			_ = t.Write(b)
		}
		return
	}
	_, _ = s.backend.Write(b)
}

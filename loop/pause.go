package loop

import "mailproxy/loop/gnetx"

// Read pausing for backpressure: gnet has none, so loop/gnetx rewrites a
// source's epoll interest on the loop's own epoll fd (gnet-notes §2.5).

// pauseRead stops reading from one side of s (the client when toBackend). Called on the loop.
func (s *session) pauseRead(toBackend bool) {
	ls := s.loop
	if ls.epfd < 0 {
		return
	}
	src := s.client
	if !toBackend {
		src = s.backend
	}
	if src == nil {
		return
	}
	if toBackend {
		if s.clientPaused {
			// gnet re-enables reading after it flushes output to this fd;
			// put the pause back.
			_ = gnetx.SetReadInterest(ls.epfd, src, false)
			return
		}
		s.clientPaused = true
	} else {
		if s.backendPaused {
			_ = gnetx.SetReadInterest(ls.epfd, src, false)
			return
		}
		s.backendPaused = true
	}
	if err := gnetx.SetReadInterest(ls.epfd, src, false); err != nil {
		return
	}
	if !s.inPausedList {
		s.inPausedList = true
		ls.paused = append(ls.paused, s)
		ls.markPaused()
	}
}

// resumeRead restarts reading from one side. Called on the loop.
func (s *session) resumeRead(client bool) {
	ls := s.loop
	if client {
		if !s.clientPaused || s.client == nil {
			return
		}
		s.clientPaused = false
		_ = gnetx.SetReadInterest(ls.epfd, s.client, true)
	} else {
		if !s.backendPaused || s.backend == nil {
			return
		}
		s.backendPaused = false
		_ = gnetx.SetReadInterest(ls.epfd, s.backend, true)
	}
}

// checkPaused resumes sessions whose destination drained. Called on the loop.
func (ls *loopState) checkPaused() {
	kept := ls.paused[:0]
	for _, s := range ls.paused {
		if s.closed {
			s.inPausedList = false
			continue
		}
		s.resumeCheck()
		if s.clientPaused || s.backendPaused {
			kept = append(kept, s)
		} else {
			s.inPausedList = false
		}
	}
	for i := len(kept); i < len(ls.paused); i++ {
		ls.paused[i] = nil
	}
	ls.paused = kept
	ls.hasPaused.Store(len(kept) > 0)
}

// resumeCheck runs drainCheck for s from the pause sweep; a panic ends s
// alone.
func (s *session) resumeCheck() {
	defer s.recoverPanic("resume")
	s.drainCheck()
}

package loop

// Backpressure before login. A client that sends commands and never reads
// the replies (pipelined CAPABILITY, NOOP, CAPA, EHLO...) would have them
// queued in gnet's outbound buffer without bound: gigabytes in seconds,
// and the loop busy answering for long after the client left (issue 11,
// D1). nginx stops at its small send buffer. Here the pre-auth command
// loops stop, and reading the client pauses, once more than
// preAuthOutMax bytes of replies are queued; the pause sweep resumes the
// session when the client has taken most of them, and the `timeout`
// timer ends a client that never does. Each OnTraffic then does a bounded
// amount of work: at most what one read brought (gnet reads up to its
// read buffer per event), answered until the replies pile up.

// preAuthOutMax bounds the replies queued for a client before login.
// Pre-auth replies are short; a client with this much unread is not
// reading.
const preAuthOutMax = 64 << 10

// preAuthBlocked reports whether more than preAuthOutMax bytes are queued
// for the client, and if so stops reading it. Called on the loop by the
// pre-auth command loops before each command.
func (s *session) preAuthBlocked() bool {
	c := s.client
	if c == nil || c.OutboundBuffered() <= preAuthOutMax {
		return false
	}
	s.pauseRead(true)
	return true
}

// preAuthDrainCheck resumes a pre-auth session paused by preAuthBlocked
// once its client has taken all but a quarter of the bound, and answers
// what it sent meanwhile (gnet does not call OnTraffic for bytes it
// already holds). Sessions paused for another reason (the SMTP resolver)
// are left alone. Called on the loop by the pause sweep.
func (s *session) preAuthDrainCheck() {
	if !s.clientPaused || s.client == nil || s.wait != waitNone {
		return
	}
	if s.client.OutboundBuffered() > preAuthOutMax/4 {
		s.pauseRead(true) // gnet may have turned reading back on after a write
		return
	}
	s.resumeRead(true)
	s.processPending()
}

package loadgen

import "crypto/tls"

// Plaintext requests for TLS. SMTP's EHLO is the same line the login
// dialogue sends: RFC 3207 §4.2 resets the session after the handshake, so
// smtpOps.login says EHLO again, over TLS.
var (
	imapStartTLS = []byte("s0 STARTTLS\r\n") // RFC 9051 §6.2.1
	pop3STLS     = []byte("STLS\r\n")        // RFC 2595 §4
	smtpEHLO     = []byte("EHLO mailbench.test\r\n")
	smtpStartTLS = []byte("STARTTLS\r\n") // RFC 3207 §4
)

// startTLS asks for TLS on a plaintext connection whose greeting has been
// read, and runs the handshake with the run's TLS config (full handshake,
// certificate not verified). A refusal is "tls:rejected"; anything the
// server sent after its go-ahead is "tls:bad-reply".
func (s *session) startTLS() error {
	if err := s.cfg.ops.starttls(s); err != nil {
		return err
	}
	// Bytes after the go-ahead came in plaintext: reading them as if they
	// had come over TLS would let anyone on the path inject replies (the
	// client side of CVE-2011-0411). The reader must be empty before it is
	// pointed at the TLS connection.
	if n := s.r.Buffered(); n > 0 {
		b, _ := s.r.Peek(n)
		return badReply("tls", "bad-reply", b)
	}
	tc := tls.Client(s.c, s.cfg.tls)
	if err := tc.Handshake(); err != nil {
		return ioFailure("tls", err)
	}
	s.cfg.countHandshake(tc)
	s.c = tc
	s.r.Reset(tc)
	return nil
}

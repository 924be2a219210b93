package loadgen

import (
	"bufio"
	"bytes"
)

var pop3Ops = protoOps{
	greeting: func(s *session) error { return pop3Expect(s, "greeting", "bad-reply") },
	login: func(s *session) error {
		if err := s.send("login", s.cfg.pop3User); err != nil {
			return err
		}
		if err := pop3Expect(s, "login", "rejected"); err != nil {
			return err
		}
		if err := s.send("login", s.cfg.pop3Pass); err != nil {
			return err
		}
		return pop3Expect(s, "login", "rejected")
	},
	command: func(s *session) error {
		if err := s.send("command", []byte("STAT\r\n")); err != nil {
			return err
		}
		return pop3Expect(s, "command", "bad-reply")
	},
	logout: func(s *session) error {
		if err := s.send("logout", []byte("QUIT\r\n")); err != nil {
			return err
		}
		return pop3Expect(s, "logout", "bad-reply")
	},
	starttls: func(s *session) error {
		if err := s.send("tls", pop3STLS); err != nil {
			return err
		}
		return pop3Expect(s, "tls", "rejected")
	},
	prepare: func(s *session) error { return nil },
	transfer: func(s *session) (int64, error) {
		if err := s.send("relay", []byte("RETR 1\r\n")); err != nil {
			return 0, err
		}
		if err := pop3Expect(s, "relay", "bad-reply"); err != nil {
			return 0, err
		}
		return multilineBody(s, "relay")
	},
}

func pop3Expect(s *session, phase, notOK string) error {
	l, err := s.line(phase)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(l, []byte("+OK")) {
		return badReply(phase, notOK, l)
	}
	return nil
}

// multilineBody reads a dot-terminated body (RFC 1939 §3) and returns its
// size without the final ".\r\n". Long lines are read in pieces.
func multilineBody(s *session, phase string) (int64, error) {
	var n int64
	atStart := true
	for {
		l, err := s.r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return n, ioFailure(phase, err)
		}
		if atStart && len(l) <= 3 && (string(l) == ".\r\n" || string(l) == ".\n") {
			return n, nil
		}
		n += int64(len(l))
		atStart = err == nil
	}
}

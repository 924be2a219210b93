package loadgen

import "encoding/base64"

var smtpOps = protoOps{
	greeting: func(s *session) error { return smtpExpect(s, "greeting", "220", "bad-reply") },
	login: func(s *session) error {
		if err := s.send("login", smtpEHLO); err != nil {
			return err
		}
		if err := smtpExpect(s, "login", "250", "bad-reply"); err != nil {
			return err
		}
		if err := s.send("login", s.cfg.smtpAuth); err != nil {
			return err
		}
		return smtpExpect(s, "login", "235", "rejected")
	},
	command: func(s *session) error {
		if err := s.send("command", []byte("NOOP\r\n")); err != nil {
			return err
		}
		return smtpExpect(s, "command", "250", "bad-reply")
	},
	logout: func(s *session) error {
		if err := s.send("logout", []byte("QUIT\r\n")); err != nil {
			return err
		}
		return smtpExpect(s, "logout", "221", "bad-reply")
	},
	starttls: func(s *session) error {
		if err := s.send("tls", smtpEHLO); err != nil {
			return err
		}
		if err := smtpExpect(s, "tls", "250", "rejected"); err != nil {
			return err
		}
		if err := s.send("tls", smtpStartTLS); err != nil {
			return err
		}
		return smtpExpect(s, "tls", "220", "rejected")
	},
	prepare: func(s *session) error { return nil },
	transfer: func(s *session) (int64, error) {
		steps := [...]struct{ cmd, code string }{
			{"MAIL FROM:<bench@bench.test>\r\n", "250"},
			{"RCPT TO:<rcpt@bench.test>\r\n", "250"},
			{"DATA\r\n", "354"},
		}
		for _, st := range steps {
			if err := s.send("relay", []byte(st.cmd)); err != nil {
				return 0, err
			}
			if err := smtpExpect(s, "relay", st.code, "bad-reply"); err != nil {
				return 0, err
			}
		}
		if err := s.send("relay", s.cfg.smtpData); err != nil {
			return 0, err
		}
		if err := smtpExpect(s, "relay", "250", "bad-reply"); err != nil {
			return 0, err
		}
		return int64(len(s.cfg.smtpData) - 3), nil
	},
}

// smtpExpect reads one possibly multi-line reply (RFC 5321 §4.2) and checks
// the code of its last line.
func smtpExpect(s *session, phase, code, notOK string) error {
	for {
		l, err := s.line(phase)
		if err != nil {
			return err
		}
		if len(l) < 4 || l[3] != '-' {
			if len(l) < 3 || string(l[:3]) != code {
				return badReply(phase, notOK, l)
			}
			return nil
		}
	}
}

// saslPlain encodes an AUTH PLAIN initial response with an empty authzid.
func saslPlain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

package mockbackend

type smtpReplies struct {
	greeting, ehlo, helo []byte
}

func newSMTPReplies(host string) smtpReplies {
	return smtpReplies{
		greeting: []byte("220 " + host + " ESMTP mock ready\r\n"),
		ehlo: []byte("250-" + host + "\r\n250-PIPELINING\r\n250-SIZE 1073741824\r\n250-8BITMIME\r\n" +
			"250-XCLIENT ADDR LOGIN NAME PROTO HELO\r\n250 AUTH PLAIN LOGIN\r\n"),
		helo: []byte("250 " + host + "\r\n"),
	}
}

// smtpConn serves one SMTP connection until QUIT, EOF or an error.
func (s *Server) smtpConn(m *mbConn) error {
	m.w.Write(s.smtp.greeting)
	for {
		if err := m.flushIfIdle(); err != nil {
			return err
		}
		line, err := m.readLine()
		if err != nil {
			return err
		}
		cmd, rest := word(line)
		switch {
		case is(cmd, "EHLO"):
			m.w.Write(s.smtp.ehlo)
		case is(cmd, "HELO"):
			m.w.Write(s.smtp.helo)
		case is(cmd, "XCLIENT"):
			// Postfix answers XCLIENT with a new greeting; nginx accepts
			// 220 or 250 (reference §3.3.3).
			if hasLoginAttr(rest) {
				s.logins.Add(1)
			}
			m.w.Write(s.smtp.greeting)
		case is(cmd, "AUTH"):
			if err := s.smtpAuth(m, rest); err != nil {
				return err
			}
		case is(cmd, "MAIL"):
			m.w.WriteString("250 2.1.0 Ok\r\n")
		case is(cmd, "RCPT"):
			m.w.WriteString("250 2.1.5 Ok\r\n")
		case is(cmd, "DATA"):
			m.w.WriteString("354 End data with <CR><LF>.<CR><LF>\r\n")
			if err := m.w.Flush(); err != nil {
				return err
			}
			n, err := m.sinkDotted()
			if err != nil {
				return err
			}
			s.bytesIn.Add(n)
			s.messages.Add(1)
			m.w.WriteString("250 2.0.0 Ok: queued as MOCK1\r\n")
		case is(cmd, "RSET"), is(cmd, "NOOP"):
			m.w.WriteString("250 2.0.0 Ok\r\n")
		case is(cmd, "VRFY"):
			m.w.WriteString("252 2.0.0 Cannot VRFY user\r\n")
		case is(cmd, "QUIT"):
			m.w.WriteString("221 2.0.0 Bye\r\n")
			return errQuit
		default:
			m.w.WriteString("502 5.5.2 Error: command not recognized\r\n")
		}
	}
}

// smtpAuth runs AUTH PLAIN or LOGIN, with or without an initial response,
// and accepts any credentials.
func (s *Server) smtpAuth(m *mbConn, rest []byte) error {
	mech, rest := word(rest)
	ir, _ := word(rest)
	steps := 0
	switch {
	case is(mech, "PLAIN"):
		if len(ir) == 0 {
			steps = 1
		}
	case is(mech, "LOGIN"):
		steps = 2
		if len(ir) > 0 {
			steps = 1
		}
	default:
		m.w.WriteString("504 5.5.4 Unrecognized authentication type\r\n")
		return nil
	}
	prompts := [...]string{"334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"}
	for i := 0; i < steps; i++ {
		switch {
		case is(mech, "PLAIN"):
			m.w.WriteString("334 \r\n")
		default:
			m.w.WriteString(prompts[i+2-steps])
		}
		if err := m.w.Flush(); err != nil {
			return err
		}
		line, err := m.readLine()
		if err != nil {
			return err
		}
		if string(line) == "*\r\n" || string(line) == "*\n" {
			m.w.WriteString("501 5.7.0 Authentication aborted\r\n")
			return nil
		}
	}
	s.logins.Add(1)
	m.w.WriteString("235 2.7.0 Authentication successful\r\n")
	return nil
}

// hasLoginAttr reports whether an XCLIENT line carries LOGIN=.
func hasLoginAttr(rest []byte) bool {
	for {
		var w []byte
		w, rest = word(rest)
		if len(w) == 0 {
			return false
		}
		if len(w) > 6 && is(w[:6], "LOGIN=") {
			return true
		}
	}
}

package mockbackend

import (
	"errors"
	"strings"
)

// errIMAPLogout ends a session after LOGOUT.
var errIMAPLogout = errors.New("mockbackend: logout")

type imapReplies struct {
	greeting, capability, selected, fetch []byte
	loginOK                               string // the tagged LOGIN OK after the tag
}

const imapCaps = "IMAP4rev1 LITERAL+ SASL-IR IDLE AUTH=PLAIN"

func newIMAPReplies(host string, msg []byte, size string, noLiteralPlus bool) imapReplies {
	var r imapReplies
	imapCaps := imapCaps
	if noLiteralPlus {
		imapCaps = strings.Replace(imapCaps, " LITERAL+", "", 1)
	}
	r.greeting = []byte("* OK [CAPABILITY " + imapCaps + "] " + host + " mock IMAP ready\r\n")
	r.capability = []byte("* CAPABILITY " + imapCaps + "\r\n")
	r.loginOK = " OK [CAPABILITY " + imapCaps + "] LOGIN completed\r\n"
	r.selected = []byte("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" +
		"* 1 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n* OK [UIDNEXT 2] Predicted next UID\r\n")
	r.fetch = append([]byte("* 1 FETCH (UID 1 RFC822.SIZE "+size+" BODY[] {"+size+"}\r\n"), msg...)
	r.fetch = append(r.fetch, ")\r\n"...)
	return r
}

// imapConn serves one IMAP connection until LOGOUT, EOF or an error.
func (s *Server) imapConn(m *mbConn) error {
	m.w.Write(s.imap.greeting)
	for {
		if err := m.flushIfIdle(); err != nil {
			return err
		}
		if err := s.imapReadCommand(m); err != nil {
			return err
		}
		if err := s.imapExec(m); err != nil {
			return err
		}
	}
}

// imapReadCommand reads one command into m.cmd, answering synchronizing
// literals with a continuation and dropping literal bytes (counted in
// BytesIn when large, as an APPEND payload).
func (s *Server) imapReadCommand(m *mbConn) error {
	m.cmd = m.cmd[:0]
	for {
		line, err := m.readLine()
		if err != nil {
			return err
		}
		m.cmd = append(m.cmd, line...)
		n, sync, ok := literalSuffix(line)
		if !ok {
			return nil
		}
		if sync {
			m.w.WriteString("+ go ahead\r\n")
			if err := m.w.Flush(); err != nil {
				return err
			}
		}
		if _, err := m.r.Discard(int(n)); err != nil {
			return err
		}
		if n >= 1024 {
			s.bytesIn.Add(uint64(n))
		}
	}
}

func (s *Server) imapTagged(m *mbConn, tag []byte, text string) {
	m.w.Write(tag)
	m.w.WriteString(text)
}

// imapExec answers the command in m.cmd.
func (s *Server) imapExec(m *mbConn) error {
	tag, rest := word(m.cmd)
	cmd, rest := word(rest)
	if len(tag) == 0 {
		m.w.WriteString("* BAD empty command\r\n")
		return nil
	}
	if is(cmd, "UID") {
		cmd, rest = word(rest)
	}
	switch {
	case is(cmd, "CAPABILITY"):
		m.w.Write(s.imap.capability)
		s.imapTagged(m, tag, " OK CAPABILITY completed\r\n")
	case is(cmd, "LOGIN"):
		s.logins.Add(1)
		s.imapTagged(m, tag, s.imap.loginOK)
	case is(cmd, "AUTHENTICATE"):
		mech, ir := word(rest)
		if !is(mech, "PLAIN") {
			s.imapTagged(m, tag, " NO unsupported mechanism\r\n")
			return nil
		}
		if w, _ := word(ir); len(w) == 0 {
			m.w.WriteString("+ \r\n")
			if err := m.w.Flush(); err != nil {
				return err
			}
			if _, err := m.readLine(); err != nil {
				return err
			}
		}
		s.logins.Add(1)
		s.imapTagged(m, tag, " OK AUTHENTICATE completed\r\n")
	case is(cmd, "SELECT"), is(cmd, "EXAMINE"):
		m.w.Write(s.imap.selected)
		s.imapTagged(m, tag, " OK [READ-WRITE] SELECT completed\r\n")
	case is(cmd, "FETCH"):
		s.messages.Add(1)
		m.w.Write(s.imap.fetch)
		s.imapTagged(m, tag, " OK FETCH completed\r\n")
	case is(cmd, "NOOP"), is(cmd, "CHECK"):
		s.imapTagged(m, tag, " OK NOOP completed\r\n")
	case is(cmd, "APPEND"):
		s.messages.Add(1)
		s.imapTagged(m, tag, " OK [APPENDUID 1 2] APPEND completed\r\n")
	case is(cmd, "LIST"), is(cmd, "LSUB"):
		m.w.WriteString("* LIST (\\HasNoChildren) \"/\" INBOX\r\n")
		s.imapTagged(m, tag, " OK LIST completed\r\n")
	case is(cmd, "IDLE"):
		m.w.WriteString("+ idling\r\n")
		if err := m.w.Flush(); err != nil {
			return err
		}
		line, err := m.readLine()
		if err != nil {
			return err
		}
		if w, _ := word(line); !is(w, "DONE") {
			s.imapTagged(m, tag, " BAD expected DONE\r\n")
			return nil
		}
		s.imapTagged(m, tag, " OK IDLE terminated\r\n")
	case is(cmd, "CLOSE"), is(cmd, "EXPUNGE"), is(cmd, "STORE"), is(cmd, "ENABLE"), is(cmd, "ID"):
		s.imapTagged(m, tag, " OK completed\r\n")
	case is(cmd, "LOGOUT"):
		m.w.WriteString("* BYE mock IMAP logging out\r\n")
		s.imapTagged(m, tag, " OK LOGOUT completed\r\n")
		return errIMAPLogout
	default:
		s.imapTagged(m, tag, " BAD unknown command\r\n")
	}
	return nil
}

package mockbackend

import "errors"

// errQuit ends a POP3 or SMTP session after QUIT.
var errQuit = errors.New("mockbackend: quit")

type pop3Replies struct {
	greeting, stat, list, listOne, uidl, retr, capa []byte
}

func newPOP3Replies(host string, msg []byte, size string) pop3Replies {
	var r pop3Replies
	r.greeting = []byte("+OK " + host + " mock POP3 ready\r\n")
	r.stat = []byte("+OK 1 " + size + "\r\n")
	r.list = []byte("+OK 1 messages\r\n1 " + size + "\r\n.\r\n")
	r.listOne = []byte("+OK 1 " + size + "\r\n")
	r.uidl = []byte("+OK\r\n1 mailbench1\r\n.\r\n")
	r.retr = append([]byte("+OK "+size+" octets\r\n"), msg...)
	r.retr = append(r.retr, ".\r\n"...)
	r.capa = []byte("+OK Capability list follows\r\nUSER\r\nUIDL\r\nTOP\r\nPIPELINING\r\n.\r\n")
	return r
}

// pop3Conn serves one POP3 connection until QUIT, EOF or an error.
func (s *Server) pop3Conn(m *mbConn) error {
	m.w.Write(s.pop3.greeting)
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
		case is(cmd, "USER"):
			m.w.WriteString("+OK\r\n")
		case is(cmd, "PASS"), is(cmd, "APOP"):
			s.logins.Add(1)
			m.w.WriteString("+OK logged in\r\n")
		case is(cmd, "STAT"):
			m.w.Write(s.pop3.stat)
		case is(cmd, "LIST"):
			if arg, _ := word(rest); len(arg) > 0 {
				m.w.Write(s.pop3.listOne)
			} else {
				m.w.Write(s.pop3.list)
			}
		case is(cmd, "UIDL"):
			m.w.Write(s.pop3.uidl)
		case is(cmd, "RETR"), is(cmd, "TOP"):
			s.messages.Add(1)
			m.w.Write(s.pop3.retr)
		case is(cmd, "DELE"), is(cmd, "RSET"), is(cmd, "NOOP"):
			m.w.WriteString("+OK\r\n")
		case is(cmd, "CAPA"):
			m.w.Write(s.pop3.capa)
		case is(cmd, "QUIT"):
			m.w.WriteString("+OK bye\r\n")
			return errQuit
		default:
			m.w.WriteString("-ERR unknown command\r\n")
		}
	}
}

package mockbackend

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
)

// dialogue is one client step: bytes to send, then the exact bytes expected.
type dialogue struct{ send, want string }

func startBackend(t *testing.T, size int) (imap, pop3, smtp string, s *Server) {
	t.Helper()
	s = New(Config{Size: size, Hostname: "mx.test"})
	t.Cleanup(func() { s.Close() })
	listen := func(serve func(net.Listener) error) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go serve(ln)
		return ln.Addr().String()
	}
	return listen(s.ServeIMAP), listen(s.ServePOP3), listen(s.ServeSMTP), s
}

func run(t *testing.T, addr string, steps ...dialogue) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for i, st := range steps {
		if st.send != "" {
			io.WriteString(c, st.send)
		}
		got := make([]byte, len(st.want))
		if _, err := io.ReadFull(r, got); err != nil {
			t.Fatalf("step %d %q: %v (got %q)", i, st.send, err, got)
		}
		if string(got) != st.want {
			t.Fatalf("step %d %q:\n got %q\nwant %q", i, st.send, got, st.want)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed at the end: %v", err)
	}
}

func TestIMAPNginxLoginAndFetch(t *testing.T) {
	imap, _, _, s := startBackend(t, 300)
	msg := string(Message(300))
	run(t, imap,
		dialogue{"", "* OK [CAPABILITY " + imapCaps + "] mx.test mock IMAP ready\r\n"},
		// nginx's backend login: synchronizing literals for user and password.
		dialogue{"a1 LOGIN {16}\r\n", "+ go ahead\r\n"},
		dialogue{"user@example.com {6}\r\n", "+ go ahead\r\n"},
		dialogue{"secret\r\n", "a1 OK [CAPABILITY " + imapCaps + "] LOGIN completed\r\n"},
		dialogue{"a2 select INBOX\r\na3 UID FETCH 1 BODY[]\r\n", "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" +
			"* 1 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n* OK [UIDNEXT 2] Predicted next UID\r\n" +
			"a2 OK [READ-WRITE] SELECT completed\r\n" +
			"* 1 FETCH (UID 1 RFC822.SIZE 300 BODY[] {300}\r\n" + msg + ")\r\na3 OK FETCH completed\r\n"},
		dialogue{"a4 APPEND INBOX {5+}\r\nhello\r\n", "a4 OK [APPENDUID 1 2] APPEND completed\r\n"},
		dialogue{"a5 IDLE\r\n", "+ idling\r\n"},
		dialogue{"DONE\r\n", "a5 OK IDLE terminated\r\n"},
		dialogue{"a6 AUTHENTICATE PLAIN\r\n", "+ \r\n"},
		dialogue{"AHVAcA==\r\n", "a6 OK AUTHENTICATE completed\r\n"},
		dialogue{"a7 XYZZY\r\n", "a7 BAD unknown command\r\n"},
		dialogue{"a8 LOGOUT\r\n", "* BYE mock IMAP logging out\r\na8 OK LOGOUT completed\r\n"},
	)
	if st := s.Stats(); st.Logins != 2 || st.Messages != 2 {
		t.Errorf("stats %v", st)
	}
}

func TestPOP3LoginAndRetr(t *testing.T) {
	_, pop3, _, _ := startBackend(t, 300)
	msg := string(Message(300))
	run(t, pop3,
		dialogue{"", "+OK mx.test mock POP3 ready\r\n"},
		dialogue{"USER u\r\n", "+OK\r\n"},
		dialogue{"PASS p\r\n", "+OK logged in\r\n"},
		dialogue{"STAT\r\nLIST\r\n", "+OK 1 300\r\n+OK 1 messages\r\n1 300\r\n.\r\n"},
		dialogue{"RETR 1\r\n", "+OK 300 octets\r\n" + msg + ".\r\n"},
		dialogue{"quit\r\n", "+OK bye\r\n"},
	)
}

func TestSMTPNginxXclientAndData(t *testing.T) {
	_, _, smtp, s := startBackend(t, 300)
	body := strings.Repeat("x", 5000) + "\r\n" + string(Message(2000)) + ".\r\n"
	greet := "220 mx.test ESMTP mock ready\r\n"
	run(t, smtp,
		dialogue{"", greet},
		dialogue{"EHLO mx.bench\r\n", "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1073741824\r\n250-8BITMIME\r\n" +
			"250-XCLIENT ADDR LOGIN NAME PROTO HELO\r\n250 AUTH PLAIN LOGIN\r\n"},
		dialogue{"XCLIENT ADDR=127.0.0.1 LOGIN=u NAME=[UNAVAILABLE]\r\n", greet},
		dialogue{"HELO c\r\n", "250 mx.test\r\n"},
		dialogue{"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"},
		dialogue{body, "250 2.0.0 Ok: queued as MOCK1\r\n"},
		dialogue{"AUTH PLAIN\r\n", "334 \r\n"},
		dialogue{"AHUAcA==\r\n", "235 2.7.0 Authentication successful\r\n"},
		dialogue{"AUTH LOGIN dQ==\r\n", "334 UGFzc3dvcmQ6\r\n"},
		dialogue{"cA==\r\n", "235 2.7.0 Authentication successful\r\n"},
		dialogue{"QUIT\r\n", "221 2.0.0 Bye\r\n"},
	)
	if st := s.Stats(); st.Logins != 3 || st.Messages != 1 || st.BytesIn != uint64(len(body)-3) {
		t.Errorf("stats %v, want bytes_in %d", st, len(body)-3)
	}
}

func TestLiteralSuffix(t *testing.T) {
	f := func(in string, n int64, sync, ok bool) {
		t.Helper()
		gn, gs, gok := literalSuffix([]byte(in))
		if gn != n || gs != sync || gok != ok {
			t.Errorf("%q: got %d %v %v", in, gn, gs, gok)
		}
	}
	f("a1 LOGIN {16}\r\n", 16, true, true)
	f("u {6}\n", 6, true, true)
	f("a APPEND x {123+}\r\n", 123, false, true)
	f("a LOGIN u p\r\n", 0, false, false)
	f("{}\r\n", 0, false, false)
	f("{+}\r\n", 0, false, false)
	f("}\r\n", 0, false, false)
	f("x{1a}\r\n", 0, false, false)
	f("{99999999999999}\r\n", 0, false, false)
	f("{0}\r\n", 0, true, true)
}

// TestIMAPNoLiteralPlus: with NoLiteralPlus the greeting and CAPABILITY
// and the LOGIN reply's capabilities leave LITERAL+ out
// (bench/literal-plus.sh compares the proxy's login with and without it),
// and synchronising literals still log in.
func TestIMAPNoLiteralPlus(t *testing.T) {
	s := New(Config{Size: 300, Hostname: "mx.test", NoLiteralPlus: true})
	t.Cleanup(func() { s.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeIMAP(ln)
	caps := strings.Replace(imapCaps, " LITERAL+", "", 1)
	if caps == imapCaps {
		t.Fatal("imapCaps has no LITERAL+ to leave out")
	}
	run(t, ln.Addr().String(),
		dialogue{"", "* OK [CAPABILITY " + caps + "] mx.test mock IMAP ready\r\n"},
		dialogue{"a0 CAPABILITY\r\n", "* CAPABILITY " + caps + "\r\na0 OK CAPABILITY completed\r\n"},
		dialogue{"a1 LOGIN {4}\r\n", "+ go ahead\r\n"},
		dialogue{"demo {4}\r\n", "+ go ahead\r\n"},
		dialogue{"pass\r\n", "a1 OK [CAPABILITY " + caps + "] LOGIN completed\r\n"},
		dialogue{"a2 LOGOUT\r\n", "* BYE mock IMAP logging out\r\na2 OK LOGOUT completed\r\n"},
	)
}

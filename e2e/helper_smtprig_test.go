package e2e

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpRig is mailproxy with one SMTP listener, a test auth server and a
// scripted SMTP backend, all private to one test.
type smtpRig struct {
	auth *authServer
	be   *smtpBackend
	p    *proc
	port int
}

func newSMTPRig(t testing.TB, extra string) *smtpRig {
	t.Helper()
	r := &smtpRig{}
	r.be = startSMTPBackend(t)
	r.auth = startAuth(t, pop3Auth(r.be.Port))
	r.port = freePort(t)
	r.p = startProxy(t, pop3ServerConf(t, "smtp", r.auth.Addr, r.port, extra))
	return r
}

// dialSMTP connects and expects nginx's greeting for server_name mx.test.
func dialSMTP(t testing.TB, port int) *client {
	t.Helper()
	c := dial(t, port)
	c.expect("220 mx.test ESMTP ready")
	return c
}

// smtpBackend is a scripted SMTP server (a small Postfix): it records every
// line it receives, in order, and answers
//
//	EHLO x      250-fake.backend / 250-PIPELINING / 250 XCLIENT ADDR LOGIN NAME (multi-line)
//	HELO x      250 fake.backend
//	XCLIENT ... 220 fake.backend ESMTP (Postfix greets again)
//	AUTH PLAIN  235 2.7.0 Authentication successful
//	MAIL ...    250 2.1.0 Ok
//	RCPT ...    250 2.1.5 Ok, or 550 5.1.1 <...>: Recipient address rejected
//	            when the address starts with "<bad"
//	DATA        354 End data with <CR><LF>.<CR><LF>, then 250 2.0.0 Ok: queued
//	RSET, NOOP  250 2.0.0 Ok
//	QUIT        221 2.0.0 Bye, close
//	other       502 5.5.2 Error: command not recognized
//
// smtpBackend is a scripted SMTP backend (helper_fakeserver_test.go).
type smtpBackend = fakeServer[smtpBackendSession]

// smtpBackendSession records one connection: every line as received
// (CRLF included), DATA content excluded.
type smtpBackendSession struct {
	mu    sync.Mutex
	lines []string
	data  strings.Builder
}

func (s *smtpBackendSession) Lines() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "")
}

func (s *smtpBackendSession) Data() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data.String()
}

const smtpBackendEHLO = "250-fake.backend\r\n250-PIPELINING\r\n250 XCLIENT ADDR LOGIN NAME\r\n"

func startSMTPBackend(t testing.TB) *smtpBackend {
	t.Helper()
	return startFakeServer(t, "smtp backend", smtpBackendServe)
}

func smtpBackendServe(c net.Conn, s *smtpBackendSession) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	say := func(l string) {
		_, _ = io.WriteString(w, l)
	}
	say("220 fake.backend ESMTP\r\n")
	if w.Flush() != nil {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			s.mu.Lock()
			s.lines = append(s.lines, line)
			s.mu.Unlock()
		}
		if err != nil {
			return
		}
		l := strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(l, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			say(smtpBackendEHLO)
		case "HELO":
			say("250 fake.backend\r\n")
		case "XCLIENT":
			say("220 fake.backend ESMTP\r\n")
		case "AUTH":
			say("235 2.7.0 Authentication successful\r\n")
		case "MAIL":
			say("250 2.1.0 Ok\r\n")
		case "RCPT":
			if strings.Contains(strings.ToUpper(arg), "<BAD") {
				say("550 5.1.1 " + strings.TrimPrefix(arg, "TO:") + ": Recipient address rejected\r\n")
			} else {
				say("250 2.1.5 Ok\r\n")
			}
		case "DATA":
			say("354 End data with <CR><LF>.<CR><LF>\r\n")
			if w.Flush() != nil {
				return
			}
			for {
				dl, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if dl == ".\r\n" {
					break
				}
				s.mu.Lock()
				s.data.WriteString(dl)
				s.mu.Unlock()
			}
			say("250 2.0.0 Ok: queued as FAKE1\r\n")
		case "RSET", "NOOP":
			say("250 2.0.0 Ok\r\n")
		case "QUIT":
			say("221 2.0.0 Bye\r\n")
			_ = w.Flush()
			return
		default:
			say("502 5.5.2 Error: command not recognized\r\n")
		}
		if r.Buffered() == 0 && w.Flush() != nil {
			return
		}
	}
}

// smtpDial6 connects to [::1]:port.
func smtpDial6(t testing.TB, port int) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("::1", strconv.Itoa(port)), ioWait)
	if err != nil {
		t.Fatalf("dial [::1]:%d: %v", port, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// tlsSkipFirstWrite drops the scripted backend's greeting after STARTTLS:
// RFC 3207 has the client speak first on the new TLS session.
type tlsSkipFirstWrite struct {
	net.Conn
	skipped bool
}

// tlsSMTPBackend serves smtpBackendServe over TLS; starttls picks the
// STARTTLS dialogue, otherwise TLS from the first byte. plain records the
// plaintext lines of each STARTTLS dialogue.
type tlsSMTPBackend struct {
	Port     int
	mu       sync.Mutex
	sessions []*smtpBackendSession
	plain    []string
}

func startTLSSMTPBackend(t testing.TB, cfg *tls.Config, starttls bool) *tlsSMTPBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &tlsSMTPBackend{Port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				var conn net.Conn = c
				if starttls {
					r := bufio.NewReader(c)
					var seen []string
					_, _ = io.WriteString(c, "220 tls.backend ESMTP\r\n")
					for {
						l, err := r.ReadString('\n')
						if err != nil {
							return
						}
						seen = append(seen, l)
						if strings.HasPrefix(strings.ToUpper(l), "EHLO ") {
							_, _ = io.WriteString(c, "250-tls.backend\r\n250 STARTTLS\r\n")
							continue
						}
						if strings.ToUpper(strings.TrimSpace(l)) == "STARTTLS" {
							_, _ = io.WriteString(c, "220 2.0.0 Ready to start TLS\r\n")
							break
						}
						_, _ = io.WriteString(c, "530 5.7.0 Must issue a STARTTLS command first\r\n")
					}
					b.mu.Lock()
					b.plain = append(b.plain, strings.Join(seen, ""))
					b.mu.Unlock()
					tc := tls.Server(c, cfg)
					if tc.Handshake() != nil {
						return
					}
					conn = &tlsSkipFirstWrite{Conn: tc}
				} else {
					tc := tls.Server(c, cfg)
					if tc.Handshake() != nil {
						return
					}
					conn = tc
				}
				s := &smtpBackendSession{}
				b.mu.Lock()
				b.sessions = append(b.sessions, s)
				b.mu.Unlock()
				smtpBackendServe(conn, s)
			}()
		}
	}()
	return b
}

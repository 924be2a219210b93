package authhttp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailproxy/codec"
)

// authScriptServer is a raw TCP auth server whose answers are written by
// the test: answer(conn, req) returns the bytes to write for a request (the
// conn's number from 0, and the request's Auth-User), and the test may
// write more on any connection later (inject), as a buggy auth script does.
type authScriptServer struct {
	ln     net.Listener
	answer func(conn int, user, pass string) string

	mu    sync.Mutex
	conns []net.Conn
	seen  []string // "conn:user" per request, in arrival order
	eofs  map[int]bool
	wg    sync.WaitGroup
}

func authStartScript(t *testing.T, answer func(conn int, user, pass string) string) *authScriptServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &authScriptServer{ln: ln, answer: answer, eofs: map[int]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			n := len(s.conns)
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(n, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *authScriptServer) serve(n int, c net.Conn) {
	br := bufio.NewReader(c)
	for {
		user, pass := "", ""
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				s.mu.Lock()
				s.eofs[n] = errors.Is(err, io.EOF)
				s.mu.Unlock()
				return
			}
			if v, ok := strings.CutPrefix(line, "Auth-User: "); ok {
				user = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Auth-Pass: "); ok {
				pass = strings.TrimSpace(v)
			}
			if line == "\r\n" {
				break
			}
		}
		s.mu.Lock()
		s.seen = append(s.seen, strconv.Itoa(n)+":"+user)
		s.mu.Unlock()
		if _, err := io.WriteString(c, s.answer(n, user, pass)); err != nil {
			return
		}
	}
}

// inject writes b on connection n, outside any request.
func (s *authScriptServer) inject(t *testing.T, n int, b string) {
	t.Helper()
	s.mu.Lock()
	c := s.conns[n]
	s.mu.Unlock()
	if _, err := io.WriteString(c, b); err != nil {
		t.Fatal(err)
	}
	authWaitQueued(t, c.RemoteAddr(), c.LocalAddr())
}

func (s *authScriptServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// authWaitQueued waits until the socket local→remote has bytes waiting to
// be read (its receive queue in /proc/net/tcp), so that a test knows an
// injected answer is there before the next request is made.
func authWaitQueued(t *testing.T, local, remote net.Addr) {
	t.Helper()
	key := authProcAddr(t, local) + " " + authProcAddr(t, remote)
	for range 500 {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Skip("no /proc/net/tcp:", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 4 && f[1]+" "+f[2] == key {
				if _, rx, _ := strings.Cut(f[4], ":"); strings.TrimLeft(rx, "0") != "" {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by the loop
	}
	t.Fatalf("no bytes queued on %s after 5s", key)
}

func authProcAddr(t *testing.T, a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP.To4() == nil {
		t.Fatalf("not an IPv4 TCP address: %v", a)
	}
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ta.IP.To4()), ta.Port)
}

// authScriptAnswer is a keepalive answer for user: OK when the password is
// "right", with the login echoed back as Auth-User.
func authScriptAnswer(user, pass string) string {
	status := "Invalid login or password"
	if pass == "right" {
		status = "OK"
	}
	return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAuth-Status: " + status +
		"\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-User: " + user + "\r\n\r\n"
}

const authInjected = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-User: injected\r\nAuth-Pass: stolen\r\n\r\n"

func authLogin(t *testing.T, c *Client, user, pass string) codec.AuthResponse {
	t.Helper()
	r := authTestRequest()
	r.Method, r.User, r.Pass, r.Salt = "plain", []byte(user), []byte(pass), nil
	var out codec.AuthResponse
	if err := c.Do(r, nil, 10*time.Second, &out); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return out
}

// D3 (issue 11): an auth server that writes a second answer after the
// first, in its own segment, while the connection is idle. The next
// login must get its own answer, from a new connection: the stray one
// ("injected", OK) is never used, by that login or any later one.
func TestAuthHTTPUnsolicitedSecondAnswerNotUsed(t *testing.T) {
	s := authStartScript(t, func(_ int, user, pass string) string { return authScriptAnswer(user, pass) })
	c := NewClient(s.ln.Addr().String(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	if out := authLogin(t, c, "alice", "right"); !out.OK || string(out.User) != "alice" {
		t.Fatalf("alice: %+v", out)
	}
	s.inject(t, 0, authInjected)

	out := authLogin(t, c, "mallory", "wrong")
	if out.OK || string(out.User) != "mallory" {
		t.Errorf("mallory with a wrong password got %q, Auth-User %q; want her own refusal", out.Status, out.User)
	}
	for i, u := range []string{"bob", "carol"} {
		if out := authLogin(t, c, u, "right"); !out.OK || string(out.User) != u {
			t.Errorf("later login %d (%s) got Auth-User %q", i, u, out.User)
		}
	}
	if got, want := strings.Join(s.requests(), " "), "0:alice 1:mallory 1:bob 1:carol"; got != want {
		t.Errorf("auth server saw %q, want %q (mallory once, on a new connection)", got, want)
	}
}

// D3: the same stray answer in the segment of the first one is beyond the
// answer's end: the connection is closed and the next login goes out on a
// new one.
func TestAuthHTTPBytesBeyondAnswerCloseConnection(t *testing.T) {
	s := authStartScript(t, func(conn int, user, pass string) string {
		if conn == 0 {
			return authScriptAnswer(user, pass) + authInjected
		}
		return authScriptAnswer(user, pass)
	})
	c := NewClient(s.ln.Addr().String(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	if out := authLogin(t, c, "alice", "right"); !out.OK || string(out.User) != "alice" {
		t.Fatalf("alice: %+v", out)
	}
	if out := authLogin(t, c, "mallory", "wrong"); out.OK || string(out.User) != "mallory" {
		t.Errorf("mallory with a wrong password got %q, Auth-User %q", out.Status, out.User)
	}
	if got, want := strings.Join(s.requests(), " "), "0:alice 1:mallory"; got != want {
		t.Errorf("auth server saw %q, want %q", got, want)
	}
}

// D3: an idle connection the server closed is noticed before the request
// is written: the request goes out once, on a new connection.
func TestAuthHTTPClosedWhileIdleNotWrittenTo(t *testing.T) {
	s := authStartScript(t, func(_ int, user, pass string) string { return authScriptAnswer(user, pass) })
	c := NewClient(s.ln.Addr().String(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	authLogin(t, c, "alice", "right")
	s.mu.Lock()
	s.conns[0].(*net.TCPConn).CloseWrite() //nolint:errcheck // the FIN is what the test needs
	s.mu.Unlock()
	if out := authLogin(t, c, "bob", "right"); !out.OK || string(out.User) != "bob" {
		t.Errorf("bob: %+v", out)
	}
	if got, want := strings.Join(s.requests(), " "), "0:alice 1:bob"; got != want {
		t.Errorf("auth server saw %q, want %q", got, want)
	}
}

// D7 (issue 11): an answer that announces a body which never comes (or an
// unfinished chunked one) is acted on at its header block, as nginx does;
// the connection is not reused, since its end is unknown.
func TestAuthHTTPBodyNeverSentDoesNotHoldLogin(t *testing.T) {
	f := func(name, framing, body string) {
		t.Run(name, func(t *testing.T) {
			s := authStartScript(t, func(conn int, user, pass string) string {
				if conn == 0 {
					return "HTTP/1.1 200 OK\r\n" + framing + "\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-User: " + user + "\r\n\r\n" + body
				}
				return authScriptAnswer(user, pass)
			})
			c := NewClient(s.ln.Addr().String(), "127.0.0.1", "/auth", 4)
			defer c.Close()
			done := make(chan error, 1)
			var out codec.AuthResponse
			go func() {
				r := authTestRequest()
				r.User = []byte("alice")
				done <- c.Do(r, nil, time.Hour, &out) // auth_http_timeout far away: only the header block may count
			}()
			select {
			case err := <-done:
				if err != nil || !out.OK || string(out.User) != "alice" {
					t.Fatalf("Do: %v %+v", err, out)
				}
			case <-time.After(30 * time.Second): // a hang guard, not a timing check
				t.Fatal("Do still waits for a body the protocol does not use")
			}
			if out := authLogin(t, c, "bob", "right"); !out.OK || string(out.User) != "bob" {
				t.Errorf("bob: %+v", out)
			}
			if got, want := strings.Join(s.requests(), " "), "0:alice 1:bob"; got != want {
				t.Errorf("auth server saw %q, want %q (the unfinished connection not reused)", got, want)
			}
		})
	}
	f("content-length", "Content-Length: 100", "")
	f("content-length-partial", "Content-Length: 100", "only part")
	f("chunked", "Transfer-Encoding: chunked", "")
	f("chunked-partial", "Transfer-Encoding: chunked", "5\r\nhello\r\n")
}

// Answers with no body (204) are pooled by fasthttp before Do has read
// them; each must still be read by its own call (the server echoes the
// login as Auth-User), with the connections kept alive.
func TestAuthHTTPNoContentAnswerStaysWithItsCall(t *testing.T) {
	s := authStartScript(t, func(_ int, user, _ string) string {
		return "HTTP/1.1 204 No Content\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-User: " + user + "\r\n\r\n"
	})
	c := NewClient(s.ln.Addr().String(), "127.0.0.1", "/auth", 2)
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out codec.AuthResponse
			for i := range 50 {
				r := authTestRequest()
				r.User = []byte(fmt.Sprintf("u%d-%d", g, i))
				if err := c.Do(r, nil, 10*time.Second, &out); err != nil {
					errs <- err
					return
				}
				if string(out.User) != string(r.User) {
					errs <- fmt.Errorf("got the answer for %q, asked for %q", out.User, r.User)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := c.ConnsOpened(); n > 2 {
		t.Errorf("ConnsOpened = %d with maxConns 2, want the connections reused", n)
	}
}

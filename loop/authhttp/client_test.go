package authhttp

import (
	"bufio"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailproxy/codec"
	"mailproxy/config"
)

// authTestServer is a raw HTTP/1.1 server on loopback: it reads request
// header blocks, records them, and answers with reply(n) for the n-th
// request (0-based). reply returns the bytes to write and whether to close
// the connection afterwards.
type authTestServer struct {
	ln     net.Listener
	reply  func(n int) (string, bool)
	reqs   chan string // every request header block, as received
	closed chan int    // request numbers after which the server closed the conn
	conns  atomic.Int32
	n      atomic.Int32
	wg     sync.WaitGroup
}

func authStartServer(t testing.TB, network, addr string, reply func(n int) (string, bool)) *authTestServer {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	return authServeOn(t, ln, reply)
}

// authServeOn is authStartServer on a listener of the caller's (TLS).
func authServeOn(t testing.TB, ln net.Listener, reply func(n int) (string, bool)) *authTestServer {
	s := &authTestServer{ln: ln, reply: reply, reqs: make(chan string, 1000), closed: make(chan int, 1000)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *authTestServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var req strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			req.WriteString(line)
			if line == "\r\n" || line == "\n" {
				break
			}
		}
		n := int(s.n.Add(1)) - 1
		s.reqs <- req.String()
		resp, closeAfter := s.reply(n)
		if resp == "" { // hang: never answer, until the client gives up
			_, _ = br.ReadByte()
			return
		}
		if resp == authCloseNow {
			return // the deferred Close: not a byte of answer
		}
		if _, err := c.Write([]byte(resp)); err != nil {
			return
		}
		if closeAfter {
			c.Close()
			s.closed <- n
			return
		}
	}
}

// authCloseNow as a reply makes the test server close the connection
// after reading the request, without writing anything.
const authCloseNow = "<close>"

func (s *authTestServer) addr() string {
	if s.ln.Addr().Network() == "unix" {
		return "unix:" + s.ln.Addr().String()
	}
	return s.ln.Addr().String()
}

const authOKResponse = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-Pass: secret\r\n\r\n"

func authOK(int) (string, bool) { return authOKResponse, false }

func authTestRequest() *codec.AuthRequest {
	return &codec.AuthRequest{
		Method: "cram-md5", User: []byte("user"), Pass: []byte("00000000000000000000000000000000"),
		Salt: []byte("<1845796265.1795628887@mx.test>"), Protocol: "imap", Attempt: 1, ClientIP: "127.0.0.1",
	}
}

var authTestExtra = []config.Header{{Name: "X-Secret", Value: "s3 cret"}}

// The request on the wire is nginx's (reference §2.2, first observed
// example) line for line; only the request line says HTTP/1.1.
func TestAuthClientWire(t *testing.T) {
	s := authStartServer(t, "tcp", "127.0.0.1:0", authOK)
	c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	var out codec.AuthResponse
	if err := c.Do(authTestRequest(), authTestExtra, 10*time.Second, &out); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(<-s.reqs, "\r\n")
	want := strings.Split("GET /auth HTTP/1.1\r\n"+ // nginx: HTTP/1.0
		"Host: 127.0.0.1\r\n"+
		"Auth-Method: cram-md5\r\n"+
		"Auth-User: user\r\n"+
		"Auth-Pass: 00000000000000000000000000000000\r\n"+
		"Auth-Salt: <1845796265.1795628887@mx.test>\r\n"+
		"Auth-Protocol: imap\r\n"+
		"Auth-Login-Attempt: 1\r\n"+
		"Client-IP: 127.0.0.1\r\n"+
		"X-Secret: s3 cret\r\n"+
		"\r\n", "\r\n")
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("request line %d: got %q, want %q", i, g, w)
		}
	}
	if !out.OK || out.Server != "127.0.0.1" || out.Port != "143" || string(out.Pass) != "secret" {
		t.Errorf("response: %+v", out)
	}
}

func TestAuthClientKeepalive(t *testing.T) {
	s := authStartServer(t, "tcp", "127.0.0.1:0", authOK)
	c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	var out codec.AuthResponse
	for i := range 100 {
		if err := c.Do(authTestRequest(), nil, 10*time.Second, &out); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if !out.OK {
			t.Fatalf("call %d: %+v", i, out)
		}
	}
	if n := c.ConnsOpened(); n != 1 {
		t.Errorf("ConnsOpened = %d after 100 sequential calls, want 1", n)
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1", n)
	}
}

// Bodies (sized or chunked) are read and discarded so the connection is reused.
func TestAuthClientBodyKeepalive(t *testing.T) {
	s := authStartServer(t, "tcp", "127.0.0.1:0", func(n int) (string, bool) {
		if n%2 == 0 {
			return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nAuth-Status: OK\r\n\r\nhello", false
		}
		return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nAuth-Status: no\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false
	})
	c := NewClient(s.addr(), "localhost", "/", 4)
	defer c.Close()
	var out codec.AuthResponse
	for i := range 10 {
		if err := c.Do(authTestRequest(), nil, 10*time.Second, &out); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if i%2 == 0 && !out.OK || i%2 == 1 && (out.OK || out.Status != "no") {
			t.Fatalf("call %d: %+v", i, out)
		}
	}
	if n := c.ConnsOpened(); n != 1 {
		t.Errorf("ConnsOpened = %d, want 1", n)
	}
}

// An HTTP/1.0 answer or Connection: close costs a new connection per call,
// as with nginx, and still works.
func TestAuthClientConnectionClose(t *testing.T) {
	s := authStartServer(t, "tcp", "127.0.0.1:0", func(n int) (string, bool) {
		if n%2 == 0 {
			return "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\n\r\n", true
		}
		return "HTTP/1.1 200 OK\r\nConnection: close\r\nAuth-Status: OK\r\n\r\n", true
	})
	c := NewClient(s.addr(), "localhost", "/", 4)
	defer c.Close()
	var out codec.AuthResponse
	for i := range 4 {
		if err := c.Do(authTestRequest(), nil, 10*time.Second, &out); err != nil || !out.OK {
			t.Fatalf("call %d: %v %+v", i, err, out)
		}
	}
	if n := c.ConnsOpened(); n != 4 {
		t.Errorf("ConnsOpened = %d, want 4", n)
	}
}

func TestAuthClientRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := NewClient(addr, "127.0.0.1", "/auth", 4)
	defer c.Close()
	var out codec.AuthResponse
	err = c.Do(authTestRequest(), nil, time.Minute, &out)
	if !errors.Is(err, ErrConnect) {
		t.Fatalf("Do against a closed port: %v, want ErrConnect", err)
	}
	if !strings.HasPrefix(err.Error(), "auth http server "+addr+" ") {
		t.Errorf("error text %q does not name the peer", err)
	}
}

// A server that accepts and never answers: Do returns at its deadline with
// nginx's "timed out" line (the duration is not asserted).
func TestAuthClientHung(t *testing.T) {
	s := authStartServer(t, "tcp", "127.0.0.1:0", func(int) (string, bool) { return "", false })
	c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	var out codec.AuthResponse
	err := c.Do(authTestRequest(), nil, 200*time.Millisecond, &out)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Do against a hung server: %v, want a timeout", err)
	}
	if want := "auth http server " + s.addr() + " timed out"; err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
	if n := s.n.Load(); n != 1 {
		t.Errorf("server got %d requests, want 1 (no retry after a timeout)", n)
	}
}

// The auth server closes an idle keepalive connection: the next call
// notices, retries once on a fresh connection, and succeeds.
func TestAuthClientStaleKeepalive(t *testing.T) {
	s := authStartServer(t, "tcp", "127.0.0.1:0", func(n int) (string, bool) {
		return authOKResponse, n == 0 // close silently after the first answer
	})
	c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	var out codec.AuthResponse
	if err := c.Do(authTestRequest(), nil, 10*time.Second, &out); err != nil {
		t.Fatal(err)
	}
	<-s.closed // the pooled connection is now dead
	if err := c.Do(authTestRequest(), nil, 10*time.Second, &out); err != nil || !out.OK {
		t.Fatalf("call on a stale connection: %v %+v", err, out)
	}
	if n := c.ConnsOpened(); n != 2 {
		t.Errorf("ConnsOpened = %d, want 2", n)
	}
}

// An auth server that closes a fresh connection without answering gets
// the request once, as from nginx: only a connection that served a request
// before may be stale, and only that is retried.
func TestAuthClientFreshConnectionClosedNotRetried(t *testing.T) {
	s := authStartServer(t, "tcp", "127.0.0.1:0", func(int) (string, bool) {
		return authCloseNow, true
	})
	c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	var out codec.AuthResponse
	err := c.Do(authTestRequest(), nil, 10*time.Second, &out)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("error %v, want ErrClosed", err)
	}
	if n := s.n.Load(); n != 1 {
		t.Errorf("server got %d requests, want 1 (no retry on a fresh connection)", n)
	}
	if n := c.ConnsOpened(); n != 1 {
		t.Errorf("ConnsOpened = %d, want 1", n)
	}
}

// A kept-alive connection that the server closes while the request is on
// it is retried once on a new connection; if that fresh one is closed too,
// the call fails there: two requests, not more.
func TestAuthClientStaleThenFreshClosed(t *testing.T) {
	s := authStartServer(t, "tcp", "127.0.0.1:0", func(n int) (string, bool) {
		if n == 0 {
			return authOKResponse, false // answer and keep the connection
		}
		return authCloseNow, true
	})
	c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	var out codec.AuthResponse
	if err := c.Do(authTestRequest(), nil, 10*time.Second, &out); err != nil || !out.OK {
		t.Fatalf("first call: %v %+v", err, out)
	}
	err := c.Do(authTestRequest(), nil, 10*time.Second, &out)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("error %v, want ErrClosed", err)
	}
	if n := s.n.Load(); n != 3 {
		t.Errorf("server got %d requests, want 3 (one answered, one on the kept-alive conn, one retry)", n)
	}
}

func TestAuthClientBadResponses(t *testing.T) {
	f := func(resp string, want ...error) {
		t.Helper()
		s := authStartServer(t, "tcp", "127.0.0.1:0", func(int) (string, bool) { return resp, true })
		c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
		defer c.Close()
		var out codec.AuthResponse
		err := c.Do(authTestRequest(), nil, 10*time.Second, &out)
		for _, w := range want {
			if errors.Is(err, w) {
				if !strings.HasPrefix(err.Error(), "auth http server "+s.addr()+" ") {
					t.Errorf("error text %q does not name the peer", err)
				}
				return
			}
		}
		t.Errorf("response %.40q: error %v, want one of %v", resp, err, want)
	}
	pad := "X-Pad: " + strings.Repeat("a", 1100) + "\r\n"
	f("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAuth-Status: OK\r\n"+pad+"\r\n", codec.ErrAuthTooLarge)
	f("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"+strings.Repeat(pad, 5)+"\r\n", codec.ErrAuthTooLarge) // beyond fasthttp's buffer
	f("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAuth_Status: OK\r\n\r\n", codec.ErrAuthInvalidHeader, codec.ErrAuthInvalidResponse)
	f("HTTP/1.1 200 OK\r\nAuth-Sta", ErrClosed, codec.ErrAuthInvalidResponse) // closed mid-response
	f("HTTP/1.1 200 OK\rX\r\n\r\n", codec.ErrAuthInvalidResponse)
	f("Auth Status: OK\r\n\r\n", codec.ErrAuthInvalidHeader) // no status line, bad name
}

// nginx reads headers from the first byte when there is no status line
// (reference §2.5, verified); so does Client, whatever fasthttp thinks.
func TestAuthClientNoStatusLine(t *testing.T) {
	f := func(resp, want string) {
		t.Helper()
		s := authStartServer(t, "tcp", "127.0.0.1:0", func(int) (string, bool) { return resp, true })
		c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
		defer c.Close()
		var out codec.AuthResponse
		if err := c.Do(authTestRequest(), nil, 10*time.Second, &out); err != nil {
			t.Errorf("response %q: %v", resp, err)
			return
		}
		if got := out.Status + " " + out.Server + ":" + out.Port + " " + string(out.Pass); got != want {
			t.Errorf("response %q: got %q, want %q", resp, got, want)
		}
	}
	f("Auth-Status: OK\r\nAuth-Server: 10.0.0.1\r\nAuth-Port: 143\r\nAuth-Pass: p\r\n\r\n", "OK 10.0.0.1:143 p")
	f("Auth-Status: OK\nAuth-Server: 10.0.0.1\nAuth-Port: 143\n\n", "OK 10.0.0.1:143 ")
	f("Auth-Status: Invalid login or password\r\nAuth-Wait: 3\r\n\r\n", "Invalid login or password : ")
	f("garbage\r\n\r\n", " : ")                                                                          // a name alone is a header for nginx
	f("HTTP/1.1 500 Oops\r\nAuth-Status: OK\r\nAuth-Server: ::1\r\nAuth-Port: 25\r\n\r\n", "OK ::1:25 ") // code ignored
	f("HTTP/1.1 200 OK\r\nAuth-Status: OK\r\nAuth-Server\r\nAuth-Port: 1\r\n\r\n", "OK :1 ")             // fasthttp rejects, nginx reads an empty value
}

func TestAuthClientUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.sock")
	s := authStartServer(t, "unix", path, authOK)
	c := NewClient("unix:"+path, "localhost", "/auth", 4)
	defer c.Close()
	var out codec.AuthResponse
	for range 3 {
		if err := c.Do(authTestRequest(), nil, 10*time.Second, &out); err != nil || !out.OK {
			t.Fatalf("unix socket: %v %+v", err, out)
		}
	}
	if req := <-s.reqs; !strings.HasPrefix(req, "GET /auth HTTP/1.1\r\nHost: localhost\r\nAuth-Method: ") {
		t.Errorf("request %q", req)
	}
	if n := c.ConnsOpened(); n != 1 {
		t.Errorf("ConnsOpened = %d, want 1", n)
	}
}

// Concurrent callers share at most maxConns connections; each gets its own
// answer (the server echoes the login back as Auth-User).
func TestAuthClientConcurrent(t *testing.T) {
	echo := authStartEcho(t)
	c := NewClient(echo, "127.0.0.1", "/auth", 2)
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8*25)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out codec.AuthResponse
			for i := range 25 {
				r := authTestRequest()
				r.User = []byte("u" + string(rune('a'+g)) + string(rune('a'+i)))
				if err := c.Do(r, nil, 10*time.Second, &out); err != nil {
					errs <- err
					return
				}
				if string(out.User) != string(r.User) {
					errs <- errors.New("got answer for " + string(out.User) + ", asked for " + string(r.User))
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
		t.Errorf("ConnsOpened = %d with maxConns 2", n)
	}
}

// authStartEcho serves answers that carry the request's Auth-User back.
func authStartEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
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
				br := bufio.NewReader(c)
				user := ""
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if v, ok := strings.CutPrefix(line, "Auth-User: "); ok {
						user = strings.TrimSpace(v)
					}
					if line == "\r\n" {
						resp := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAuth-Status: OK\r\nAuth-User: " + user + "\r\n\r\n"
						if _, err := c.Write([]byte(resp)); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// authReq is one auth_http request as received.
type authReq struct {
	Raw     string      // request line + headers + blank line, byte for byte
	Line    string      // request line without CRLF
	Headers [][2]string // name, value in arrival order
}

// get returns the last value of header name (case-insensitive), "" if absent.
func (r *authReq) get(name string) string {
	v := ""
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], name) {
			v = h[1]
		}
	}
	return v
}

// Special answers of an auth handler; anything else is a header block.
const (
	authHang  = "\x00hang"  // never answer; hold the connection until test end
	authClose = "\x00close" // close the connection without answering
	authRaw   = "\x00raw"   // prefix: the rest is written verbatim, then close
)

// authOK answers success pointing at a backend port on 127.0.0.1.
func authOK(port int) string {
	return fmt.Sprintf("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: %d\r\n", port)
}

// authFail answers failure text, with Auth-Wait when wait > 0.
func authFail(text string, wait int) string {
	s := "Auth-Status: " + text + "\r\n"
	if wait > 0 {
		s += "Auth-Wait: " + strconv.Itoa(wait) + "\r\n"
	}
	return s
}

// authServer is a raw-TCP auth_http server. nginx sends HTTP/1.0 and closes
// after each answer; mailproxy keeps its auth connections alive with
// HTTP/1.1 (an allowed improvement, reference §11), so a request line
// ending in HTTP/1.1 without "Connection: close" gets an HTTP/1.1 answer
// with Content-Length: 0 and the connection stays open for the next request.
type authServer struct {
	Addr string // "127.0.0.1:PORT"
	ln   net.Listener

	mu      sync.Mutex
	handler func(*authReq) string
	reqs    []*authReq
	conns   map[net.Conn]bool
	closed  bool
	wg      sync.WaitGroup
	release chan struct{} // closed at test end: hung answers give up
}

// startAuth starts an auth server answering with h; it stops at test end.
func startAuth(t testing.TB, h func(*authReq) string) *authServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startAuthOn(t, ln, h)
}

// startAuthOn is startAuth on a listener of the caller's (another
// loopback address).
func startAuthOn(t testing.TB, ln net.Listener, h func(*authReq) string) *authServer {
	t.Helper()
	a := &authServer{Addr: ln.Addr().String(), ln: ln, handler: h,
		conns: map[net.Conn]bool{}, release: make(chan struct{})}
	a.wg.Add(1)
	go a.accept()
	t.Cleanup(a.close)
	return a
}

func (a *authServer) setHandler(h func(*authReq) string) {
	a.mu.Lock()
	a.handler = h
	a.mu.Unlock()
}

// requests returns the requests received so far.
func (a *authServer) requests() []*authReq {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*authReq(nil), a.reqs...)
}

// take returns the requests received so far and forgets them.
func (a *authServer) take() []*authReq {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.reqs
	a.reqs = nil
	return r
}

func (a *authServer) close() {
	a.mu.Lock()
	a.closed = true
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	close(a.release)
	a.ln.Close()
	a.wg.Wait()
}

func (a *authServer) accept() {
	defer a.wg.Done()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			c.Close()
			return
		}
		a.conns[c] = true
		a.wg.Add(1)
		a.mu.Unlock()
		go a.serve(c)
	}
}

func (a *authServer) serve(c net.Conn) {
	defer a.wg.Done()
	defer func() {
		c.Close()
		a.mu.Lock()
		delete(a.conns, c)
		a.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	for {
		req, err := authReadRequest(r)
		if err != nil {
			return
		}
		a.mu.Lock()
		a.reqs = append(a.reqs, req)
		h := a.handler
		a.mu.Unlock()
		ans := h(req)
		switch {
		case ans == authHang:
			<-a.release
			return
		case ans == authClose:
			return
		case strings.HasPrefix(ans, authRaw):
			_, _ = io.WriteString(c, strings.TrimPrefix(ans, authRaw))
			return
		}
		keep := strings.HasSuffix(req.Line, " HTTP/1.1") &&
			!strings.EqualFold(req.get("Connection"), "close")
		var resp string
		if keep {
			resp = "HTTP/1.1 200 OK\r\n" + ans + "Content-Length: 0\r\n\r\n"
		} else {
			resp = "HTTP/1.0 200 OK\r\n" + ans + "\r\n"
		}
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, resp); err != nil || !keep {
			return
		}
	}
}

// authReadRequest reads one request header block (GET has no body).
func authReadRequest(r *bufio.Reader) (*authReq, error) {
	req := &authReq{}
	var raw strings.Builder
	for i := 0; ; i++ {
		line, err := r.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			return nil, err
		}
		if raw.Len() > 64<<10 {
			return nil, fmt.Errorf("auth request too big")
		}
		l := strings.TrimRight(line, "\r\n")
		if i == 0 {
			req.Line = l
			continue
		}
		if l == "" {
			break
		}
		name, value, _ := strings.Cut(l, ":")
		req.Headers = append(req.Headers, [2]string{name, strings.TrimPrefix(value, " ")})
	}
	req.Raw = raw.String()
	return req, nil
}

// authExtensionHeaders is THE allowlist of request headers mailproxy may
// send beyond nginx's set (reference §2.2). Each needs a reason:
//   - Client-Port: the client's source port, nginx PR #538 / issue #205,
//     listed as a safe improvement in reference §11.
//
// Anything else, including User-Agent or Connection, fails the tests.
var authExtensionHeaders = map[string]bool{
	"client-port": true,
}

// authNormalize returns a request block the way nginx would have sent it:
// request line forced to HTTP/1.0 (mailproxy keeps auth connections alive
// with HTTP/1.1), allowlisted extension headers dropped, Auth-Salt values
// replaced by <SALT> (random per session) and, with maskDigest and a salt
// present, the Auth-Pass digest computed from the salt by <DIGEST>. Lines
// keep their CRLF.
func authNormalize(raw string, maskDigest bool) string {
	lines := strings.SplitAfter(raw, "\n")
	salted := maskDigest && strings.Contains(strings.ToLower(raw), "\nauth-salt:")
	var b strings.Builder
	for i, l := range lines {
		if l == "" {
			continue
		}
		if i == 0 {
			l = strings.Replace(l, " HTTP/1.1\r\n", " HTTP/1.0\r\n", 1)
			b.WriteString(l)
			continue
		}
		name, _, _ := strings.Cut(l, ":")
		if authExtensionHeaders[strings.ToLower(name)] {
			continue
		}
		if strings.EqualFold(name, "Auth-Salt") {
			l = "Auth-Salt: <SALT>\r\n"
		}
		if salted && strings.EqualFold(name, "Auth-Pass") {
			l = "Auth-Pass: <DIGEST>\r\n"
		}
		b.WriteString(l)
	}
	return b.String()
}

// checkAuthReq asserts that req is, after authNormalize (digest kept),
// exactly want: lines given without CRLF, the blank terminator implied.
func checkAuthReq(t testing.TB, req *authReq, want ...string) {
	t.Helper()
	w := strings.Join(want, "\r\n") + "\r\n\r\n"
	if got := authNormalize(req.Raw, false); got != w {
		t.Fatalf("auth_http request differs from nginx's\n got: %q\nwant: %q", got, w)
	}
}

// authPlainReq lists nginx's request lines for a plain login from 127.0.0.1.
func authPlainReq(user, pass string, attempt int) []string {
	return []string{
		"GET /auth HTTP/1.0",
		"Host: 127.0.0.1",
		"Auth-Method: plain",
		"Auth-User: " + user,
		"Auth-Pass: " + pass,
		"Auth-Protocol: imap",
		"Auth-Login-Attempt: " + strconv.Itoa(attempt),
		"Client-IP: 127.0.0.1",
	}
}

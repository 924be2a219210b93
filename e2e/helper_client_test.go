package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ioWait bounds every single read or write a test client does.
const ioWait = 10 * time.Second

// client is a raw line client, the way a person with nc sees the server.
type client struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	seen []string // lines read so far, for failure messages
}

func dial(t testing.TB, port int) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), ioWait)
	if err != nil {
		t.Fatalf("dial %d: %v", port, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// dialIMAP connects and expects nginx's IMAP greeting.
func dialIMAP(t testing.TB, port int) *client {
	t.Helper()
	c := dial(t, port)
	c.expect("* OK IMAP4 ready")
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(ioWait))
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("send %q: %v (read so far: %q)", trunc(s), err, c.seen)
	}
}

// readLine returns the next line without its CRLF, or the error. Lines
// from the proxy must end in CRLF.
func (c *client) readLine(wait time.Duration) (string, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(wait))
	l, err := c.r.ReadString('\n')
	if err != nil {
		if l != "" {
			return l, fmt.Errorf("partial line %q: %w", l, err)
		}
		return "", err
	}
	if !strings.HasSuffix(l, "\r\n") {
		return l, fmt.Errorf("line %q does not end in CRLF", l)
	}
	l = strings.TrimSuffix(l, "\r\n")
	c.seen = append(c.seen, l)
	return l, nil
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.readLine(ioWait)
	if err != nil {
		c.t.Fatalf("read line: %v (read so far: %q)", err, c.seen)
	}
	return l
}

// expect reads one line per argument and compares them exactly.
func (c *client) expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if got := c.line(); got != w {
			c.t.Fatalf("got line %q, want %q (read so far: %q)", got, w, c.seen)
		}
	}
}

// expectEOF asserts that the server closes the connection with nothing more
// to say (a reset also counts as closed).
func (c *client) expectEOF() {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(ioWait))
	b, err := c.r.ReadByte()
	switch {
	case err == nil:
		rest, _ := c.r.Peek(c.r.Buffered())
		c.t.Fatalf("want close, got more data %q (read so far: %q)", string(b)+string(rest), c.seen)
	case isClosed(err):
	default:
		c.t.Fatalf("want close, got %v (read so far: %q)", err, c.seen)
	}
}

// isClosed reports whether err means the peer closed the connection.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// readFull reads exactly len(buf) bytes.
func (c *client) readFull(buf []byte) {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(ioWait))
	if _, err := io.ReadFull(c.r, buf); err != nil {
		c.t.Fatalf("read %d bytes: %v (read so far: %q)", len(buf), err, c.seen)
	}
}

// login performs a quoted LOGIN with tag and expects the backend's OK.
func (c *client) login(tag, user, pass string) {
	c.t.Helper()
	c.send(tag + " LOGIN " + user + " " + pass + "\r\n")
	c.expect(tag + " OK [CAPABILITY IMAP4rev1] Logged in")
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// localPort is the client side's port of c, as mailproxy sees it.
func (c *client) localPort() string {
	return strconv.Itoa(c.c.LocalAddr().(*net.TCPAddr).Port)
}

// expectNothingYet checks that the server has sent nothing within a short
// read window (a negative check: it never waits for something to happen).
func (c *client) expectNothingYet() {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	b, err := c.r.ReadByte()
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("want no bytes yet, got %q, %v", b, err)
	}
}

// dialFrom connects to 127.0.0.1:port from source address ip.
func dialFrom(t testing.TB, ip string, port int) *client {
	t.Helper()
	d := net.Dialer{Timeout: ioWait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("dial %d from %s: %v", port, ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReaderSize(c, 64<<10)}
}

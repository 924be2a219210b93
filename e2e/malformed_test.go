package e2e

import (
	"fmt"
	"io"
	"math/rand"
	"net"
	"strings"
	"testing"
	"time"
)

// Hostile or broken clients: after each, the proxy must still be alive
// and a normal client must still log in. The cases share one proxy on
// purpose and run in order.
func TestIMAPMalformedInput(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})

	t.Run("binary-junk", func(t *testing.T) {
		junk := make([]byte, 8192)
		rand.New(rand.NewSource(7)).Read(junk)
		for i := 100; i < len(junk); i += 100 {
			junk[i] = '\n' // enough lines to hit max_errors
		}
		c := dialIMAP(t, r.port)
		go func() { _, _ = c.c.Write(junk) }() // the proxy may close before reading it all
		c.drainToEOF(t)
		r.loginWorks(t)
	})

	t.Run("1MB-line", func(t *testing.T) {
		c := dialIMAP(t, r.port)
		go func() { _, _ = io.WriteString(c.c, "a1 LOGIN "+strings.Repeat("x", 1<<20)+" pass\r\n") }()
		l := c.line()
		if l != "a1 BAD invalid command" && l != "* BAD invalid command" {
			t.Fatalf("got %q, want the invalid-command reply", l)
		}
		c.drainToEOF(t)
		r.loginWorks(t)
	})

	t.Run("unterminated-literal", func(t *testing.T) {
		c := dialIMAP(t, r.port)
		c.send("a1 LOGIN {100}\r\n")
		c.expect("+ OK")
		c.send("only ten b")
		c.c.Close()
		r.loginWorks(t)
	})

	t.Run("unterminated-line", func(t *testing.T) {
		c := dialIMAP(t, r.port)
		c.send("a1 NOOP") // no CRLF, then gone
		c.c.Close()
		r.loginWorks(t)
	})

	t.Run("10000-pipelined-noops", func(t *testing.T) {
		const n = 10000
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "a%d NOOP\r\n", i)
		}
		c := dialIMAP(t, r.port)
		errc := make(chan error, 1)
		go func() {
			_ = c.c.SetWriteDeadline(time.Now().Add(60 * time.Second))
			_, err := io.WriteString(c.c, b.String()) // one write
			errc <- err
		}()
		for i := range n {
			want := fmt.Sprintf("a%d OK completed", i)
			if got := c.line(); got != want {
				t.Fatalf("reply %d: got %q, want %q", i, got, want)
			}
		}
		if err := <-errc; err != nil {
			t.Fatalf("write: %v", err)
		}
		c.send("b1 LOGOUT\r\n")
		c.expect("* BYE", "b1 OK completed")
		c.expectEOF()
		r.loginWorks(t)
	})

	t.Run("half-open", func(t *testing.T) {
		for range 20 {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), ioWait)
			if err != nil {
				t.Fatal(err)
			}
			c.Close() // connect, send nothing, disconnect
		}
		c := dial(t, r.port)
		c.c.(*net.TCPConn).CloseWrite() // half-closed: greeting still comes
		c.expect("* OK IMAP4 ready")
		r.loginWorks(t)
	})

	if n := len(r.auth.requests()); n != 6 {
		t.Errorf("auth server saw %d requests, want 6 (one per successful check)", n)
	}
}

// drainToEOF reads whatever the server still sends until it closes (bounded).
func (c *client) drainToEOF(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(ioWait)
	buf := make([]byte, 64<<10)
	_ = c.c.SetReadDeadline(deadline)
	for {
		_, err := c.r.Read(buf)
		if err == nil {
			continue
		}
		if isClosed(err) {
			return
		}
		t.Fatalf("want close, got %v", err)
	}
}

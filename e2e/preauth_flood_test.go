package e2e

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"
)

// Issue 11, D1: a client that sends commands before login and never reads
// the replies. mailproxy queued every reply (2-3 GB of RSS in seconds, the
// loop busy for long after the client left); now it stops reading such a
// client once a small amount of replies is queued, as nginx stops at its
// send buffer.

// floodMaxHWM bounds the proxy's peak RSS while a client floods it: the
// flood below would queue well over 100 MB of replies without backpressure.
const floodMaxHWM = 64 << 10 // kB

// floodWithoutReading sends cmd over and over on a fresh connection to
// port (greeting read first) and never reads the replies, until 32 MB are
// sent or a write stalls for 2 s (the proxy stopped reading). It returns
// the bytes sent and leaves the connection open.
func floodWithoutReading(t *testing.T, port int, cmd string) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 512)); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	chunk := bytes.Repeat([]byte(cmd), (64<<10)/len(cmd))
	sent := 0
	for sent < 32<<20 {
		_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Write(chunk)
		sent += n
		if err != nil {
			break
		}
	}
	return c, sent
}

func TestPreAuthFloodWithoutReadingIsBounded(t *testing.T) {
	t.Parallel()
	f := func(t *testing.T, port int, p *proc, cmd string, loginWorks func()) {
		c, sent := floodWithoutReading(t, port, cmd)
		if hwm := p.memKB(t, "VmHWM"); hwm >= floodMaxHWM {
			t.Fatalf("after %d bytes of %q unread replies: proxy peak RSS %d kB, want < %d kB", sent, cmd, hwm, floodMaxHWM)
		}
		if sent >= 32<<20 {
			t.Fatalf("the proxy read all %d bytes of a client that reads nothing", sent)
		}
		// Others are served while the flooder is still connected.
		loginWorks()
		c.Close()
		loginWorks()
		p.mustBeAlive(t)
	}
	t.Run("imap", func(t *testing.T) {
		t.Parallel()
		r := newIMAPRig(t, "", backendOpts{})
		f(t, r.port, r.p, "a CAPABILITY\r\n", func() { r.loginWorks(t) })
	})
	t.Run("pop3", func(t *testing.T) {
		t.Parallel()
		r := newPOP3Rig(t, "")
		f(t, r.port, r.p, "CAPA\r\n", func() {
			c := dialPOP3(t, r.port)
			c.send("USER user\r\nPASS pass\r\n")
			c.expect("+OK", pop3BackendLoggedIn)
			c.c.Close()
		})
	})
	t.Run("smtp", func(t *testing.T) {
		t.Parallel()
		r := newSMTPRig(t, "")
		f(t, r.port, r.p, "EHLO x\r\n", func() {
			c := dialSMTP(t, r.port)
			c.send("NOOP\r\n")
			c.expect("250 2.0.0 OK")
			c.c.Close()
		})
	})
}

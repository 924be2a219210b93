package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"testing"
	"time"
)

const (
	slowSize   = 50 << 20 // bytes moved through the proxy
	slowMaxHWM = 64 << 10 // kB: the proxy's peak RSS must stay below 64 MB
	slowBound  = 60 * time.Second
)

// TestSlowReaderBoundedMemory: the backend sends a 50 MB FETCH literal as
// fast as loopback allows while the client reads 16 KB every millisecond.
// The proxy must apply backpressure (reference §4: reading stops while the
// other side's buffer is full) instead of buffering the difference.
func TestSlowReaderBoundedMemory(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{FetchSize: slowSize})
	c := dialIMAP(t, r.port)
	c.login("a1", "user", "pass")
	c.send("a2 FETCH 1 BODY[]\r\n")
	c.expect(fmt.Sprintf("* 1 FETCH (BODY[] {%d}", slowSize))
	_ = c.c.SetReadDeadline(time.Now().Add(slowBound))
	h := sha256.New()
	buf := make([]byte, 16<<10)
	for left := slowSize; left > 0; {
		n := min(left, len(buf))
		k, err := c.r.Read(buf[:n])
		h.Write(buf[:k])
		left -= k
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v", slowSize-left, slowSize, err)
		}
		time.Sleep(time.Millisecond) // the slow reader itself, not synchronisation
	}
	c.expect(")", "a2 OK FETCH completed")
	if got, want := hex.EncodeToString(h.Sum(nil)), patternSum(slowSize); got != want {
		t.Fatalf("client got a corrupted literal: sha256 %s, want %s", got, want)
	}
	if hwm := r.p.memKB(t, "VmHWM"); hwm >= slowMaxHWM {
		t.Fatalf("proxy peak RSS (VmHWM) %d kB, want < %d kB: no backpressure towards the backend?", hwm, slowMaxHWM)
	} else {
		t.Logf("proxy VmHWM %d kB, VmRSS %d kB", hwm, r.p.memKB(t, "VmRSS"))
	}
}

// TestSlowBackendUploadBoundedMemory: the client APPENDs a 50 MB literal
// as fast as it can while the backend reads 16 KB every millisecond.
func TestSlowBackendUploadBoundedMemory(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{SlowRead: true})
	c := dialIMAP(t, r.port)
	c.login("a1", "user", "pass")
	c.send(fmt.Sprintf("a2 APPEND INBOX {%d}\r\n", slowSize))
	c.expect("+ OK")
	_ = c.c.SetWriteDeadline(time.Now().Add(slowBound))
	if err := writePattern(c.c, slowSize); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if _, err := io.WriteString(c.c, "\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(slowBound))
	l, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("no APPEND reply: %v", err)
	}
	if want := "a2 OK APPEND completed sha256=" + patternSum(slowSize) + "\r\n"; l != want {
		t.Fatalf("got %q, want %q (upload corrupted?)", l, want)
	}
	if hwm := r.p.memKB(t, "VmHWM"); hwm >= slowMaxHWM {
		t.Fatalf("proxy peak RSS (VmHWM) %d kB, want < %d kB: no backpressure towards the client?", hwm, slowMaxHWM)
	} else {
		t.Logf("proxy VmHWM %d kB, VmRSS %d kB", hwm, r.p.memKB(t, "VmRSS"))
	}
}

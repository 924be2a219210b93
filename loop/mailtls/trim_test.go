package mailtls

import (
	"bytes"
	"crypto/tls"
	"testing"
	"unsafe"
)

// TestTrimFindsCryptoTLSFields: Trim reaches crypto/tls's input buffers
// by field name and type; a Go release that renames or retypes them turns
// Trim into a no-op, and idle TLS sessions keep ~3 KiB more each.
func TestTrimFindsCryptoTLSFields(t *testing.T) {
	if !tcInput.ok {
		t.Fatal("crypto/tls.Conn has no rawInput/input bytes.Buffer/bytes.Reader/hand fields any more: Trim does nothing; look at crypto/tls/conn.go")
	}
}

// tcHeld is what crypto/tls's input buffers hold, in bytes of capacity.
func tcHeld(c *Conn) int {
	p := unsafe.Pointer(c.TC)
	return (*bytes.Buffer)(unsafe.Add(p, tcInput.rawInput)).Cap() +
		(*bytes.Buffer)(unsafe.Add(p, tcInput.hand)).Cap()
}

// TestIdleTLSConnHoldsNoInputBuffers: an idle TLS session after the
// handshake, and again after a command was read (Pump finding no more),
// holds no decrypted buffer and none of crypto/tls's input buffers (each
// idle connection kept ~4 KiB of Plain and ~3 KiB of crypto/tls input),
// and the connection still reads and writes records afterwards.
func TestIdleTLSConnHoldsNoInputBuffers(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		srv, cli, srvRaw, cliRaw := tlsPair(t, v)
		srv.Pump(4096) // the greeting's wait: nothing to read
		if held := tcHeld(srv); held != 0 || cap(srv.Plain) != 0 {
			t.Fatalf("version %x: idle after the handshake: crypto/tls input %d B, Plain %d B", v, held, cap(srv.Plain))
		}
		for i := range 3 {
			if err := cli.Write([]byte("a1 NOOP\r\n")); err != nil {
				t.Fatal(err)
			}
			srvRaw.in.Write(cliRaw.out.Bytes())
			cliRaw.out.Reset()
			srv.Pump(4096)
			if got := string(srv.Plain); got != "a1 NOOP\r\n" {
				t.Fatalf("version %x: command %d: got %q (err %v)", v, i, got, srv.RErr)
			}
			srv.Consume(len(srv.Plain))
			srv.Pump(4096)
			if held := tcHeld(srv); held != 0 || cap(srv.Plain) != 0 {
				t.Fatalf("version %x: idle after command %d: crypto/tls input %d B, Plain %d B", v, i, held, cap(srv.Plain))
			}
			if err := srv.Write([]byte("a1 OK\r\n")); err != nil {
				t.Fatal(err)
			}
			cliRaw.in.Write(srvRaw.out.Bytes())
			srvRaw.out.Reset()
			cli.Pump(1024)
			if got := string(cli.Plain); got != "a1 OK\r\n" {
				t.Fatalf("version %x: reply %d: got %q (err %v)", v, i, got, cli.RErr)
			}
			cli.Consume(len(cli.Plain))
		}
	}
}

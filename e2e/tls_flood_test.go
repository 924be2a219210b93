package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// Handshakes that wait for a silent client must not keep anyone else from
// TLS (issue 11, D2): mailproxy used to hold one of 4,096 process-wide
// slots per handshake from accept to its end, so 4,100 silent connections
// refused every new TLS client ("too many TLS handshakes in progress") and
// every proxy_ssl backend handshake. nginx is unaffected.

// tlsFloodClientHello is a real ClientHello record from Go's client.
func tlsFloodClientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() {
		_ = tls.Client(a, &tls.Config{ServerName: "mx.test", InsecureSkipVerify: true}).Handshake()
	}()
	_ = b.SetReadDeadline(time.Now().Add(ioWait))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

func TestTLSSilentHandshakesDoNotLockOthersOut(t *testing.T) {
	// Not parallel: it holds about 4,600 descriptors on each side.
	const (
		silent   = 4200 // more than the old pool's 4,096 on their own
		starttls = 200  // "a STARTTLS", then nothing
		midway   = 100  // a whole ClientHello, then nothing
		trickle  = 100  // 3 bytes of a ClientHello, then nothing
	)
	d := startTLSDovecot(t)
	ts := newTLSSetup(t)
	auth := startAuth(t, func(q *authReq) string {
		if q.get("Auth-User") != dovecotUser || q.get("Auth-Pass") != dovecotPass {
			return authFail("Invalid login or password", 0)
		}
		return authOK(d.IMAPSPort)
	})
	imaps, imap := freePort(t), freePort(t)
	dir := t.TempDir()
	backend := "proxy_ssl on;\n        proxy_ssl_name backend.test;"
	conf := fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
pid %s/mailproxy.pid;
events { worker_connections 10000; }
mail {
    server_name mx.test;
    auth_http %s/auth;
    timeout 5m;
    proxy_ssl_trusted_certificate %s;
%s
    server {
        listen 127.0.0.1:%d ssl;
        protocol imap;
        %s
    }
    server {
        listen 127.0.0.1:%d;
        protocol imap;
        starttls on;
        %s
    }
}
`, dir, dir, auth.Addr, d.ca.Path, indent(ts.directives(""), "    "), imaps, backend, imap, backend)
	p := startProxy(t, conf)

	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	open := func(port int) net.Conn {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), ioWait)
		if err != nil {
			t.Fatalf("connection %d: %v", len(held), err)
		}
		held = append(held, c)
		return c
	}
	for i := 0; i < silent; i++ {
		open(imaps)
	}
	hello := tlsFloodClientHello(t)
	for i := 0; i < midway; i++ {
		if _, err := open(imaps).Write(hello); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < trickle; i++ {
		if _, err := open(imaps).Write(hello[:3]); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < starttls; i++ {
		c := &client{t: t, c: open(imap)}
		c.r = bufio.NewReaderSize(c.c, 4096)
		c.expect("* OK IMAP4 ready")
		c.send("a STARTTLS\r\n")
		c.expect("a OK completed")
	}
	// Every implicit-TLS connection has reached its session (each logs
	// its accept); the STARTTLS ones have been answered.
	want := silent + midway + trickle
	accepted := func() int {
		b, _ := os.ReadFile(dir + "/error.log")
		return strings.Count(string(b), fmt.Sprintf(" connected to 127.0.0.1:%d", imaps))
	}
	waitFor(t, time.Minute, func() bool { return accepted() >= want }, func() string {
		return fmt.Sprintf("%d of %d connections to the ssl listener accepted", accepted(), want)
	})

	t.Run("imaps-python", func(t *testing.T) {
		out := tlsRun(t, "", "python3", "testdata/tls_clients.py", "imap-ssl", "127.0.0.1", fmt.Sprint(imaps), ts.ca.Path, dovecotUser, dovecotPass)
		wantLines(t, out, "login: OK", "select: OK 2", "subject: e2e message one")
	})
	t.Run("starttls-openssl", func(t *testing.T) {
		out := tlsRun(t, "a1 LOGIN "+dovecotUser+" "+dovecotPass+"\r\na2 LOGOUT\r\n", "openssl", "s_client",
			"-connect", fmt.Sprintf("127.0.0.1:%d", imap), "-starttls", "imap",
			"-CAfile", ts.ca.Path, "-verify_return_error", "-servername", "mx.test", "-quiet")
		for _, w := range []string{"a1 OK", "a2 OK"} {
			if !strings.Contains(out, w) {
				t.Fatalf("lacks %q:\n%s", w, out)
			}
		}
	})
	// A plaintext client: the only handshake is mailproxy's own, towards
	// the TLS backend (proxy_ssl), with the client handshakes above waiting.
	t.Run("backend-proxy_ssl", func(t *testing.T) {
		out := imapPy(t, imap, dovecotUser, dovecotPass)
		wantLines(t, out, "select: OK 2", "subject: e2e message one", "logout: BYE")
	})
	p.mustBeAlive(t)
}

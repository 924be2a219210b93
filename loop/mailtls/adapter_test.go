package mailtls

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"sync"
	"testing"
	"time"
)

// tlsTestCert makes a self-signed ECDSA certificate for names.
func tlsTestCert(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsFakeRaw stands for a gnet.Conn in the data phase: Read takes from in
// and reports io.ErrShortBuffer when empty, as gnet does; Write appends to
// out.
type tlsFakeRaw struct {
	in, out bytes.Buffer
}

func (f *tlsFakeRaw) Read(p []byte) (int, error) {
	if f.in.Len() == 0 {
		return 0, io.ErrShortBuffer
	}
	return f.in.Read(p)
}

func (f *tlsFakeRaw) Write(p []byte) (int, error) { return f.out.Write(p) }

// tlsPair runs a server and a client adapter through their handshakes over
// memory and returns them in the data phase with their fake transports.
func tlsPair(t testing.TB, version uint16) (srv, cli *Conn, srvRaw, cliRaw *tlsFakeRaw) {
	t.Helper()
	cert := tlsTestCert(t, "mx.test")
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	var mu sync.Mutex
	var toSrv, toCli []byte
	wake := make(chan struct{}, 1)
	post := func(dst *[]byte) func([]byte) {
		return func(b []byte) {
			mu.Lock()
			*dst = append(*dst, b...)
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}
	srvRaw, cliRaw = &tlsFakeRaw{}, &tlsFakeRaw{}
	srv = NewServerConn(srvRaw, post(&toCli), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
	cli = NewClientConn(cliRaw, post(&toSrv), &tls.Config{RootCAs: pool, ServerName: "mx.test", MinVersion: version, MaxVersion: version})
	errs := make(chan error, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { errs <- srv.Handshake(ctx) }()
	go func() { errs <- cli.Handshake(ctx) }()
	done := 0
	deadline := time.After(10 * time.Second)
	for done < 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			done++
		case <-wake:
		case <-deadline:
			t.Fatal("handshake did not finish")
		}
		mu.Lock()
		a, b := toSrv, toCli
		toSrv, toCli = nil, nil
		mu.Unlock()
		if len(a) > 0 {
			if err := srv.Feed(a); err != nil {
				t.Fatal(err)
			}
		}
		if len(b) > 0 {
			if err := cli.Feed(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	srv.ToLoop()
	cli.ToLoop()
	// Bytes posted after the last wake-up (TLS 1.3 tickets) reach the client
	// through its raw transport, as they would through gnet.
	mu.Lock()
	cliRaw.in.Write(toCli)
	srvRaw.in.Write(toSrv)
	mu.Unlock()
	return srv, cli, srvRaw, cliRaw
}

// TestTLSWouldBlockContract fails if crypto/tls ever treats the shim's
// would-block error as fatal: the data phase depends on it (gnet-notes §4).
func TestTLSWouldBlockContract(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		srv, cli, srvRaw, cliRaw := tlsPair(t, v)
		buf := make([]byte, 256)
		// Nothing buffered: no data, no error, several times.
		for i := 0; i < 3; i++ {
			if n, err := srv.Read(buf); n != 0 || err != nil {
				t.Fatalf("empty read: %d, %v", n, err)
			}
		}
		if err := cli.Write([]byte("a1 NOOP\r\n")); err != nil {
			t.Fatal(err)
		}
		rec := cliRaw.out.Bytes()
		// A record delivered a byte at a time: each partial read would
		// block, and the record comes out whole at the end.
		for i := 0; i < len(rec)-1; i++ {
			srvRaw.in.WriteByte(rec[i])
			if n, err := srv.Read(buf); n != 0 || err != nil {
				t.Fatalf("version %x: partial record (%d of %d bytes): %d, %v", v, i+1, len(rec), n, err)
			}
		}
		srvRaw.in.WriteByte(rec[len(rec)-1])
		cliRaw.out.Reset()
		n, err := srv.Read(buf)
		if err != nil || string(buf[:n]) != "a1 NOOP\r\n" {
			t.Fatalf("version %x: got %q, %v", v, buf[:n], err)
		}
		if n, err := srv.Read(buf); n != 0 || err != nil {
			t.Fatalf("read after record: %d, %v", n, err)
		}
		// And the other way, still usable.
		if err := srv.Write([]byte("a1 OK completed\r\n")); err != nil {
			t.Fatal(err)
		}
		cliRaw.in.Write(srvRaw.out.Bytes())
		srvRaw.out.Reset()
		cli.Pump(1 << 10)
		if got := string(cli.Plain); got != "a1 OK completed\r\n" {
			t.Fatalf("client got %q (err %v)", got, cli.RErr)
		}
		// close_notify ends the stream cleanly.
		cli.CloseNotify()
		srvRaw.in.Write(cliRaw.out.Bytes())
		if _, err := srv.Read(buf); !IsEOF(err) {
			t.Fatalf("after close_notify: %v", err)
		}
	}
}

// TestTLSAbortWakesHandshake: a handshake waiting for ciphertext ends when
// the loop aborts it (session closed, or timeout).
func TestTLSAbortWakesHandshake(t *testing.T) {
	cert := tlsTestCert(t, "mx.test")
	srv := NewServerConn(nil, func([]byte) {}, &tls.Config{Certificates: []tls.Certificate{cert}})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake(context.Background()) }()
	srv.Abort()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("aborted handshake succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("abort did not wake the handshake")
	}
}

// TestTLSHandshakeTimeout: a context deadline ends a silent peer (the
// loop uses the session's timer and Abort instead).
func TestTLSHandshakeTimeout(t *testing.T) {
	cert := tlsTestCert(t, "mx.test")
	srv := NewServerConn(nil, func([]byte) {}, &tls.Config{Certificates: []tls.Certificate{cert}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Handshake(ctx); err == nil {
		t.Fatal("handshake with a silent peer succeeded")
	}
}

// TestTLSFeedLimit: a peer cannot buffer unbounded data before its
// handshake completes.
func TestTLSFeedLimit(t *testing.T) {
	srv := NewServerConn(nil, func([]byte) {}, &tls.Config{})
	if err := srv.Feed(make([]byte, HandshakeBuffer)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Feed([]byte{1}); err != ErrBufferFull {
		t.Fatalf("got %v, want ErrBufferFull", err)
	}
}

// tlsClientHello is the first flight of a real crypto/tls client.
func tlsClientHello(t testing.TB) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	cli := NewClientConn(nil, func(b []byte) {
		select {
		case got <- append([]byte(nil), b...):
		default:
		}
	}, &tls.Config{ServerName: "mx.test", InsecureSkipVerify: true})
	go func() { _ = cli.Handshake(context.Background()) }()
	defer cli.Abort()
	select {
	case b := <-got:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no ClientHello")
		return nil
	}
}

// TestTLSServerStartsOnFirstRecord: a client handshake has no goroutine
// until its first record is whole (a silent or trickling client costs no
// goroutine); bytes that cannot start a handshake start it at once, so
// crypto/tls refuses them; a backend handshake starts at once.
func TestTLSServerStartsOnFirstRecord(t *testing.T) {
	hello := tlsClientHello(t)
	srv := NewServerConn(nil, func([]byte) {}, &tls.Config{})
	if srv.ShouldStart() {
		t.Fatal("start with no bytes")
	}
	for i, b := range hello[:len(hello)-1] {
		if err := srv.Feed([]byte{b}); err != nil {
			t.Fatal(err)
		}
		if srv.ShouldStart() {
			t.Fatalf("start after %d of %d bytes of the ClientHello", i+1, len(hello))
		}
	}
	if srv.TC != nil {
		t.Fatal("tls.Conn made before the start")
	}
	if err := srv.Feed(hello[len(hello)-1:]); err != nil {
		t.Fatal(err)
	}
	if !srv.ShouldStart() || srv.TC == nil {
		t.Fatal("no start with the whole ClientHello")
	}
	if srv.ShouldStart() {
		t.Fatal("started twice")
	}
	for _, junk := range []string{"a1 LOGIN user pass\r\n", "\x80\x2e\x01", "\x16\x03\x01\x7f\xff"} {
		s := NewServerConn(nil, func([]byte) {}, &tls.Config{})
		_ = s.Feed([]byte(junk))
		if !s.ShouldStart() {
			t.Fatalf("%q: no start", junk)
		}
	}
	aborted := NewServerConn(nil, func([]byte) {}, &tls.Config{})
	_ = aborted.Feed(hello)
	aborted.Abort()
	if aborted.ShouldStart() {
		t.Fatal("start after Abort")
	}
	if !NewClientConn(nil, func([]byte) {}, &tls.Config{}).ShouldStart() {
		t.Fatal("a backend handshake does not start at once")
	}
}

// TestTLSWaitingHandshakesHoldNoSlot: handshakes waiting for their peer
// mid-way, three times more than the runnable bound, do not keep a new
// handshake from completing.
func TestTLSWaitingHandshakesHoldNoSlot(t *testing.T) {
	hello := tlsClientHello(t)
	cert := tlsTestCert(t, "mx.test")
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	n := 3 * RunnableHandshakes
	flights := make(chan struct{}, n)
	var waiting []*Conn
	for i := 0; i < n; i++ {
		srv := NewServerConn(nil, func([]byte) {
			select {
			case flights <- struct{}{}:
			default:
			}
		}, cfg)
		if err := srv.Feed(hello); err != nil {
			t.Fatal(err)
		}
		if !srv.ShouldStart() {
			t.Fatal("no start")
		}
		waiting = append(waiting, srv)
		go func() { _ = srv.Handshake(context.Background()) }()
	}
	defer func() {
		for _, w := range waiting {
			w.Abort()
		}
	}()
	// Each has answered and now waits for the client's Finished.
	for i := 0; i < n; i++ {
		select {
		case <-flights:
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d servers answered", i, n)
		}
	}
	tlsPair(t, tls.VersionTLS13)
}

// TestTLSBackendNotStarvedByClients: with every client slot taken, a
// backend handshake still runs.
func TestTLSBackendNotStarvedByClients(t *testing.T) {
	for i := 0; i < cap(clientGate); i++ {
		clientGate <- struct{}{}
	}
	defer func() {
		for i := 0; i < cap(clientGate); i++ {
			<-clientGate
		}
	}()
	tlsClientHello(t) // NewClientConn: the backends' gate
}

package loadgen

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
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"mailproxy/bench/mockbackend"
)

// startStore runs a mock backend; the generator talks to it directly, since
// the mock accepts the same client dialogues a proxy does.
func startStore(t *testing.T) map[string]string {
	t.Helper()
	s := mockbackend.New(mockbackend.Config{Size: 10000})
	t.Cleanup(func() { s.Close() })
	addrs := map[string]string{}
	for name, serve := range map[string]func(net.Listener) error{"imap": s.ServeIMAP, "pop3": s.ServePOP3, "smtp": s.ServeSMTP} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go serve(ln)
		addrs[name] = ln.Addr().String()
	}
	return addrs
}

func TestLoginClosedAndOpenLoopEveryProtocol(t *testing.T) {
	addrs := startStore(t)
	for _, proto := range []string{"imap", "pop3", "smtp"} {
		for _, rate := range []float64{0, 2000} {
			o := Options{Proto: proto, Addr: addrs[proto], User: "u", Pass: "p w", Conc: 4, Count: 40, Rate: rate,
				Duration: time.Minute, Sources: 3, PIDs: []int{os.Getpid()}}
			r, err := RunLogin(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK != 40 || r.Failed != 0 || r.Login == nil || r.Session.Max <= 0 || r.Proxy == nil {
				t.Fatalf("%s rate %v: %+v errors %v", proto, rate, r, r.Errors)
			}
			var out bytes.Buffer
			r.WriteTable(&out)
			if !strings.Contains(out.String(), "40 ok, 0 failed") {
				t.Errorf("table:\n%s", out.String())
			}
		}
	}
}

func TestRelayEveryProtocol(t *testing.T) {
	addrs := startStore(t)
	for _, proto := range []string{"imap", "pop3", "smtp"} {
		o := Options{Proto: proto, Addr: addrs[proto], User: "u", Pass: "p", Conc: 2, Count: 10, Size: 10000,
			Duration: time.Minute}
		r, err := RunRelay(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		// IMAP literals and DATA payloads are the message; POP3 RETR bodies
		// too (the terminating dot is not counted).
		if r.OK != 10 || r.Failed != 0 || r.Relay.Bytes != 10*10000 {
			t.Fatalf("%s: %+v %+v errors %v", proto, r, r.Relay, r.Errors)
		}
	}
}

// A proxy that refuses every session must not keep a relay run with -n
// reconnecting until -d: each failed session uses up one message.
func TestRelayCountBoundsFailedSessions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused
	done := make(chan *Report, 1)
	go func() {
		r, err := RunRelay(context.Background(), Options{Proto: "pop3", Addr: addr, Conc: 2, Count: 10,
			Size: 1000, Duration: time.Minute, Timeout: time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	select {
	case r := <-done:
		if r == nil {
			return
		}
		// Each worker checks the budget before a session: at most Conc-1
		// sessions past it.
		if r.OK != 0 || r.Failed < 10 || r.Failed > 11 || r.Errors["dial:refused"] != r.Failed {
			t.Fatalf("ok %d failed %d errors %v", r.OK, r.Failed, r.Errors)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("relay -n 10 against a refusing address still running after 30 s (the run's -d is 1 m)")
	}
}

func TestIdleHoldsConnections(t *testing.T) {
	addrs := startStore(t)
	for _, login := range []bool{false, true} {
		o := Options{Proto: "imap", Addr: addrs["imap"], User: "u", Pass: "p", Conc: 4, Conns: 50, Login: login,
			Hold: time.Millisecond, Duration: time.Minute, PIDs: []int{os.Getpid()}}
		r, err := RunIdle(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if r.Idle == nil || r.Idle.Opened != 50 || r.Failed != 0 {
			t.Fatalf("login %v: %+v", login, r)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, err := RunLogin(context.Background(), Options{Proto: "pop3", Addr: addr, Conc: 1, Count: 3, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors["dial:refused"] != 3 {
		t.Fatalf("errors %v", r.Errors)
	}

	// A server that rejects every login.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("* OK IMAP4 ready\r\n"))
				buf := make([]byte, 512)
				c.Read(buf)
				c.Write([]byte("a1 NO Invalid login or password\r\n"))
			}()
		}
	}()
	r, err = RunLogin(context.Background(), Options{Proto: "imap", Addr: ln.Addr().String(), Conc: 2, Count: 4, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors["login:rejected"] != 4 || r.OK != 0 {
		t.Fatalf("errors %v", r.Errors)
	}
}

func TestIMAPString(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := imapString(in); got != want {
			t.Errorf("%q: got %s want %s", in, got, want)
		}
	}
	f("user@example.com", "user@example.com")
	f("p w", `"p w"`)
	f(`a"b\`, `"a\"b\\"`)
	f("", `""`)
}

func TestLoginOverImplicitTLS(t *testing.T) {
	addrs := startStore(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", testTLSConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// A TLS front that splices into the plaintext mock store.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, err := net.Dial("tcp", addrs["pop3"])
				if err != nil {
					return
				}
				defer b.Close()
				go io.Copy(b, c)
				io.Copy(c, b)
			}()
		}
	}()
	r, err := RunLogin(context.Background(), Options{Proto: "pop3", Addr: ln.Addr().String(), TLS: true, Conc: 2, Count: 6, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 6 || r.Failed != 0 {
		t.Fatalf("%+v %v", r, r.Errors)
	}
}

func testTLSConfig(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

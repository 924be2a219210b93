package authhttp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"mailproxy/codec"
)

// authTestCA makes a CA and a leaf for 127.0.0.1 and "auth.test".
func authTestCA(t *testing.T, cn string) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	lkey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "auth.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"auth.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	lder, err := x509.CreateCertificate(rand.Reader, leaf, ca, &lkey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{lder}, PrivateKey: lkey}
}

// authStartTLSServer is authStartServer behind TLS with cfg.
func authStartTLSServer(t *testing.T, cfg *tls.Config, reply func(n int) (string, bool)) *authTestServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return authServeOn(t, tls.NewListener(ln, cfg), reply)
}

// https:// with the CA configured: the answer is parsed from the
// decrypted bytes, and the connection is kept alive over TLS (a session
// ticket after the handshake is no stray answer).
func TestTLSClientVerifiesAndKeepsAlive(t *testing.T) {
	pool, leaf := authTestCA(t, "test CA")
	s := authStartTLSServer(t, &tls.Config{Certificates: []tls.Certificate{leaf}}, authOK)
	c := NewTLSClient(s.addr(), "127.0.0.1", "/auth", 4, &tls.Config{RootCAs: pool})
	defer c.Close()
	for i := range 3 {
		var out codec.AuthResponse
		if err := c.Do(authTestRequest(), nil, 10*time.Second, &out); err != nil || !out.OK || string(out.Pass) != "secret" {
			t.Fatalf("call %d: %v %+v", i, err, out)
		}
	}
	if got := <-s.reqs; !strings.HasPrefix(got, "GET /auth HTTP/1.1\r\nHost: 127.0.0.1\r\n") {
		t.Fatalf("request %q", got)
	}
	if c.ConnsOpened() != 1 || s.conns.Load() != 1 {
		t.Fatalf("opened %d connections (server saw %d), want 1 kept alive", c.ConnsOpened(), s.conns.Load())
	}
}

// A certificate from another CA is refused: ErrTLS, before any byte of an
// answer (a Group moves on), and the server never sees the request.
func TestTLSClientWrongCA(t *testing.T) {
	_, leaf := authTestCA(t, "server CA")
	other, _ := authTestCA(t, "other CA")
	s := authStartTLSServer(t, &tls.Config{Certificates: []tls.Certificate{leaf}}, authOK)
	c := NewTLSClient(s.addr(), "127.0.0.1", "/", 4, &tls.Config{RootCAs: other})
	defer c.Close()
	var out codec.AuthResponse
	err := c.Do(authTestRequest(), nil, 10*time.Second, &out)
	if !errors.Is(err, ErrTLS) || !errors.Is(err, errSilent) || !strings.Contains(err.Error(), "SSL handshake failed") {
		t.Fatalf("got %v", err)
	}
	if s.n.Load() != 0 {
		t.Fatal("the request went out")
	}
}

// A server that requires a client certificate gets the configured one.
func TestTLSClientCertificate(t *testing.T) {
	pool, leaf := authTestCA(t, "test CA")
	s := authStartTLSServer(t, &tls.Config{Certificates: []tls.Certificate{leaf}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}, authOK)
	var out codec.AuthResponse
	without := NewTLSClient(s.addr(), "auth.test", "/", 4, &tls.Config{RootCAs: pool, ServerName: "auth.test"})
	defer without.Close()
	if err := without.Do(authTestRequest(), nil, 10*time.Second, &out); err == nil {
		t.Fatal("no client certificate, yet an answer")
	}
	with := NewTLSClient(s.addr(), "auth.test", "/", 4, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{leaf}})
	defer with.Close()
	if err := with.Do(authTestRequest(), nil, 10*time.Second, &out); err != nil || !out.OK {
		t.Fatalf("with certificate: %v", err)
	}
}

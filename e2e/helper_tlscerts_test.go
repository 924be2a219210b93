package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Certificates for the TLS tests, made by the test itself: a CA, server
// certificates for names and 127.0.0.1, client certificates.

// tlsCA is a test certificate authority with its PEM file.
type tlsCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	Path string // CA certificate, PEM
	dir  string
}

var tlsSerial int64 = 0x4B84E8D3

func tlsNextSerial() *big.Int {
	tlsSerial++
	return big.NewInt(tlsSerial)
}

func tlsWritePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	mustWrite(t, path, string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})), 0o644)
}

func tlsWriteKey(t testing.TB, path string, key any) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tlsWritePEM(t, path, "PRIVATE KEY", der)
}

// newTLSCA makes a CA named cn in a fresh directory.
func newTLSCA(t testing.TB, cn string) *tlsCA {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          tlsNextSerial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &tlsCA{cert: cert, key: key, Path: filepath.Join(dir, "ca.pem"), dir: dir}
	tlsWritePEM(t, ca.Path, "CERTIFICATE", der)
	return ca
}

// tlsLeafOpts says what kind of certificate to issue.
type tlsLeafOpts struct {
	cn       string
	dns      []string
	client   bool // clientAuth instead of serverAuth
	rsa      bool // RSA-2048 key instead of ECDSA P-256
	expired  bool
	selfSign bool // ignore the CA: self-signed
}

// issue makes a certificate and key under the CA's directory and returns
// their paths and the parsed certificate.
func (ca *tlsCA) issue(t testing.TB, o tlsLeafOpts) (certPath, keyPath string, cert *x509.Certificate) {
	t.Helper()
	var pub, priv any
	if o.rsa {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, priv = &k.PublicKey, k
	}
	tmpl := &x509.Certificate{
		SerialNumber: tlsNextSerial(),
		Subject:      pkix.Name{CommonName: o.cn, Organization: []string{"mailproxy e2e"}},
		DNSNames:     o.dns,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if o.client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	if o.expired {
		tmpl.NotBefore = time.Now().Add(-48 * time.Hour)
		tmpl.NotAfter = time.Now().Add(-24 * time.Hour)
	}
	parent, signer := ca.cert, any(ca.key)
	if o.selfSign {
		parent, signer = tmpl, priv
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	base := filepath.Join(ca.dir, fmt.Sprintf("%s-%d", strings.ReplaceAll(o.cn, "*", "star"), cert.SerialNumber.Int64()))
	certPath, keyPath = base+".pem", base+".key"
	tlsWritePEM(t, certPath, "CERTIFICATE", der)
	tlsWriteKey(t, keyPath, priv)
	return certPath, keyPath, cert
}

// pool is a cert pool with the CA, for Go clients.
func (ca *tlsCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// tlsDial connects to port with TLS (implicit) and returns a line client.
func tlsDial(t testing.TB, port int, cfg *tls.Config) *client {
	t.Helper()
	d := &net.Dialer{Timeout: ioWait}
	c, err := tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
	if err != nil {
		t.Fatalf("TLS dial %d: %v", port, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// startTLS upgrades a line client after the server's go-ahead was read.
func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	if n := c.r.Buffered(); n != 0 {
		c.t.Fatalf("%d plaintext bytes after the STARTTLS go-ahead", n)
	}
	tc := tls.Client(c.c, cfg)
	_ = tc.SetDeadline(time.Now().Add(ioWait))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("STARTTLS handshake: %v", err)
	}
	_ = tc.SetDeadline(time.Time{})
	c.c = tc
	c.r = bufio.NewReaderSize(tc, 64<<10)
}

// tlsSetup is a CA with a server certificate for mx.test and 127.0.0.1.
type tlsSetup struct {
	ca         *tlsCA
	cert, key  string
	clientConf *tls.Config // trusts the CA, verifies mx.test
}

func newTLSSetup(t testing.TB) *tlsSetup {
	t.Helper()
	ca := newTLSCA(t, "mailproxy e2e CA")
	cert, key, _ := ca.issue(t, tlsLeafOpts{cn: "mx.test", dns: []string{"mx.test"}})
	return &tlsSetup{ca: ca, cert: cert, key: key,
		clientConf: &tls.Config{RootCAs: ca.pool(), ServerName: "mx.test"}}
}

// directives returns the ssl_certificate lines plus extra.
func (ts *tlsSetup) directives(extra string) string {
	return fmt.Sprintf("ssl_certificate %s;\nssl_certificate_key %s;\n%s", ts.cert, ts.key, extra)
}

// tlsProtoConf renders a config with one server of proto on port; listen
// gets listenOpts (e.g. "ssl"); extra goes inside mail{}.
func tlsProtoConf(t testing.TB, proto, authAddr string, port int, listenOpts, extra string) string {
	t.Helper()
	dir := t.TempDir()
	return fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
pid %s/mailproxy.pid;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
%s
    server {
        listen 127.0.0.1:%d %s;
        protocol %s;
    }
}
`, dir, dir, authAddr, indent(extra, "    "), port, listenOpts, proto)
}

// tlsMustExist fails when a file the test wrote is missing.
func tlsMustExist(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// tlsClientCert loads a certificate issued by ca (or self-signed) for a Go
// client.
func tlsClientCert(t testing.TB, ca *tlsCA, o tlsLeafOpts) (tls.Certificate, string) {
	t.Helper()
	o.client = true
	certPath, keyPath, cert := ca.issue(t, o)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(cert.Raw)
	return pair, hex.EncodeToString(sum[:])
}

// tlsWithCert is cfg presenting pair whatever CAs the server asks for
// (Go's client would otherwise send nothing to a server naming other CAs).
func tlsWithCert(cfg *tls.Config, pair tls.Certificate) *tls.Config {
	cfg = cfg.Clone()
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	return cfg
}

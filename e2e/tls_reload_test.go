package e2e

import (
	"crypto/tls"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Beyond nginx: certificate choice by SNI, RSA + ECDSA side by side, and
// new certificates on SIGHUP without dropping TLS sessions.

// tlsPeerCN returns the CN of the certificate the server showed.
func tlsPeerCN(t testing.TB, c *client) string {
	t.Helper()
	tc, ok := c.c.(*tls.Conn)
	if !ok {
		t.Fatal("not a TLS client")
	}
	return tc.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestTLSSNIAndKeyTypes(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	otherCert, otherKey, _ := ts.ca.issue(t, tlsLeafOpts{cn: "other.test", dns: []string{"other.test"}})
	rsaCert, rsaKey, _ := ts.ca.issue(t, tlsLeafOpts{cn: "rsa.mx.test", dns: []string{"mx.test"}, rsa: true})
	extra := "ssl_certificate " + otherCert + ";\nssl_certificate_key " + otherKey + ";\n" +
		"ssl_certificate " + rsaCert + ";\nssl_certificate_key " + rsaKey + ";"
	r := tlsIMAPRig(t, ts, "ssl", extra)
	f := func(name string, suites []uint16, wantCN string) {
		t.Helper()
		cfg := ts.clientConf.Clone()
		cfg.ServerName = name
		if suites != nil {
			cfg.MaxVersion = tls.VersionTLS12
			cfg.CipherSuites = suites
		}
		c := tlsDial(t, r.port, cfg)
		c.expect("* OK IMAP4 ready")
		if got := tlsPeerCN(t, c); got != wantCN {
			t.Fatalf("SNI %q: got certificate %q, want %q", name, got, wantCN)
		}
	}
	f("mx.test", nil, "mx.test")
	f("other.test", nil, "other.test")
	// A client that only does RSA gets the RSA certificate for the name.
	f("mx.test", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, "rsa.mx.test")
}

func TestTLSReloadCertificates(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	port := freePort(t)
	conf := tlsProtoConf(t, "imap", auth.Addr, port, "ssl", ts.directives(""))
	path := writeConf(t, conf)
	p := startProc(t, "mailproxy", conf, mailproxyBin, "-c", path)

	old := tlsDial(t, port, ts.clientConf)
	old.expect("* OK IMAP4 ready")
	old.login("a1", "user", "pass")

	// New certificate and key at the same paths, then HUP.
	newCert, newKey, _ := ts.ca.issue(t, tlsLeafOpts{cn: "renewed.mx.test", dns: []string{"mx.test"}})
	for src, dst := range map[string]string{newCert: ts.cert, newKey: ts.key} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, dst, string(b), 0o644)
	}
	if err := syscall.Kill(p.PID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var data []byte
	waitFor(t, 15*time.Second, func() bool {
		data, _ = os.ReadFile(p.errorLog)
		return strings.Contains(string(data), "configuration reloaded")
	}, func() string { return "no reload:\n" + string(data) })
	fresh := tlsDial(t, port, ts.clientConf)
	fresh.expect("* OK IMAP4 ready")
	if cn := tlsPeerCN(t, fresh); cn != "renewed.mx.test" {
		t.Fatalf("after reload the certificate is %q", cn)
	}
	// The session started before the reload goes on.
	old.send("a2 NOOP\r\n")
	old.expect("a2 OK NOOP completed")

	// A broken certificate file keeps the running configuration.
	mustWrite(t, ts.cert, "not a certificate", 0o644)
	if err := syscall.Kill(p.PID, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool {
		data, _ = os.ReadFile(p.errorLog)
		return strings.Contains(string(data), "reload failed")
	}, func() string { return "bad certificate did not fail the reload:\n" + string(data) })
	again := tlsDial(t, port, ts.clientConf)
	again.expect("* OK IMAP4 ready")
	if cn := tlsPeerCN(t, again); cn != "renewed.mx.test" {
		t.Fatalf("after a failed reload the certificate is %q", cn)
	}
	p.mustBeAlive(t)
}

package e2e

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
)

// Client certificates (reference §5, §2.2): ssl_verify_client on, optional,
// optional_no_ca; the cert-error lines; the Auth-SSL-* headers.

func TestTLSClientCertRequired(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsIMAPRig(t, ts, "ssl", fmt.Sprintf("ssl_verify_client on;\nssl_client_certificate %s;\nauth_http_pass_client_cert on;", ts.ca.Path))

	t.Run("good", func(t *testing.T) {
		pair, fp := tlsClientCert(t, ts.ca, tlsLeafOpts{cn: "client.example"})
		cfg := ts.clientConf.Clone()
		cfg.Certificates = []tls.Certificate{pair}
		c := tlsDial(t, r.port, cfg)
		c.expect("* OK IMAP4 ready")
		c.login("a1", "user", "pass")
		reqs := r.auth.take()
		q := reqs[len(reqs)-1]
		want := map[string]string{
			"Auth-SSL-Verify":      "SUCCESS",
			"Auth-SSL-Subject":     "CN=client.example,O=mailproxy e2e",
			"Auth-SSL-Issuer":      "CN=mailproxy e2e CA",
			"Auth-SSL-Fingerprint": fp,
		}
		for k, v := range want {
			if q.get(k) != v {
				t.Errorf("%s: got %q, want %q", k, q.get(k), v)
			}
		}
		if s := q.get("Auth-SSL-Serial"); s == "" || strings.ToUpper(s) != s {
			t.Errorf("Auth-SSL-Serial %q: want uppercase hex", s)
		}
		if c := q.get("Auth-SSL-Cert"); !strings.HasPrefix(c, "-----BEGIN%20CERTIFICATE-----%0A") {
			t.Errorf("Auth-SSL-Cert not the escaped PEM: %.60q", c)
		}
		// Order: Verify, Subject, Issuer, Serial, Fingerprint, Cert.
		last := -1
		for _, h := range []string{"Auth-SSL:", "Auth-SSL-Protocol:", "Auth-SSL-Cipher:", "Auth-SSL-Verify:", "Auth-SSL-Subject:", "Auth-SSL-Issuer:", "Auth-SSL-Serial:", "Auth-SSL-Fingerprint:", "Auth-SSL-Cert:"} {
			i := strings.Index(q.Raw, "\r\n"+h)
			if i <= last {
				t.Fatalf("header %s out of order:\n%s", h, q.Raw)
			}
			last = i
		}
	})

	t.Run("none", func(t *testing.T) {
		c := tlsDial(t, r.port, ts.clientConf)
		c.expect("* BYE No required SSL certificate")
		c.expectEOF()
	})

	t.Run("wrong-ca", func(t *testing.T) {
		other := newTLSCA(t, "some other CA")
		pair, _ := tlsClientCert(t, other, tlsLeafOpts{cn: "intruder.example"})
		c := tlsDial(t, r.port, tlsWithCert(ts.clientConf, pair))
		c.expect("* BYE SSL certificate error")
		c.expectEOF()
	})

	t.Run("expired", func(t *testing.T) {
		pair, _ := tlsClientCert(t, ts.ca, tlsLeafOpts{cn: "old.example", expired: true})
		c := tlsDial(t, r.port, tlsWithCert(ts.clientConf, pair))
		c.expect("* BYE SSL certificate error")
		c.expectEOF()
	})
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("refused certificates reached auth_http (%d requests)", n)
	}
}

func TestTLSClientCertOptional(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsPOP3Rig(t, ts, "ssl", fmt.Sprintf("ssl_verify_client optional;\nssl_client_certificate %s;", ts.ca.Path))
	// No certificate: fine, Auth-SSL-Verify: NONE and nothing more.
	c := tlsDial(t, r.port, ts.clientConf)
	c.expect("+OK POP3 ready")
	c.send("USER user\r\nPASS pass\r\n")
	c.expect("+OK")
	c.line()
	q := r.auth.take()[0]
	if q.get("Auth-SSL-Verify") != "NONE" || strings.Contains(q.Raw, "Auth-SSL-Subject") {
		t.Fatalf("no certificate:\n%s", q.Raw)
	}
	// A certificate from another CA: refused with POP3's line.
	other := newTLSCA(t, "some other CA")
	pair, _ := tlsClientCert(t, other, tlsLeafOpts{cn: "intruder.example"})
	c2 := tlsDial(t, r.port, tlsWithCert(ts.clientConf, pair))
	c2.expect("-ERR SSL certificate error")
	c2.expectEOF()
}

func TestTLSClientCertOptionalNoCA(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsSMTPRig(t, ts, "", "starttls on;\nssl_verify_client optional_no_ca;")
	// A self-signed certificate passes to the auth server with FAILED:...
	pair, fp := tlsClientCert(t, ts.ca, tlsLeafOpts{cn: "client.example", selfSign: true})
	cfg := ts.clientConf.Clone()
	cfg.Certificates = []tls.Certificate{pair}
	c := dialSMTP(t, r.port)
	c.send("STARTTLS\r\n")
	c.expect("220 2.0.0 Start TLS")
	c.startTLS(cfg)
	c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.expect("235 2.0.0 OK")
	q := r.auth.requests()[0]
	if q.get("Auth-SSL-Verify") != "FAILED:self-signed certificate" || q.get("Auth-SSL-Fingerprint") != fp ||
		q.get("Auth-SSL-Subject") != "CN=client.example,O=mailproxy e2e" || q.get("Auth-SSL-Issuer") != "CN=client.example,O=mailproxy e2e" {
		t.Fatalf("optional_no_ca:\n%s", q.Raw)
	}
	if strings.Contains(q.Raw, "Auth-SSL-Cert") {
		t.Fatalf("Auth-SSL-Cert without auth_http_pass_client_cert:\n%s", q.Raw)
	}
	// An expired certificate is not an "optional" error: 421.
	old, _ := tlsClientCert(t, ts.ca, tlsLeafOpts{cn: "old.example", expired: true})
	cfg2 := ts.clientConf.Clone()
	cfg2.Certificates = []tls.Certificate{old}
	c2 := dialSMTP(t, r.port)
	c2.send("STARTTLS\r\n")
	c2.expect("220 2.0.0 Start TLS")
	c2.startTLS(cfg2)
	c2.expect("421 4.7.1 SSL certificate error")
	c2.expectEOF()
}

// TestTLSConfigErrors: what -t says about TLS configs.
func TestTLSConfigErrors(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	f := func(extra, listenOpts, want string, code int) {
		t.Helper()
		path := writeConf(t, tlsProtoConf(t, "imap", "127.0.0.1:9", 30993, listenOpts, extra))
		out, got := runProxyTest(t, path)
		if got != code || !strings.Contains(out, want) {
			t.Fatalf("exit %d (want %d), output lacks %q:\n%s", got, code, want, out)
		}
	}
	f(ts.directives(""), "ssl", "test is successful", 0)
	f("ssl_certificate /nonexistent.pem;\nssl_certificate_key /nonexistent.key;", "ssl", `cannot load certificate "/nonexistent.pem"`, 1)
	f(ts.directives("ssl_conf_command Options PrioritizeChaCha;"), "ssl", `"ssl_conf_command Options PrioritizeChaCha" is ignored`, 0)
	f(ts.directives("ssl_dhparam /etc/dh.pem;"), "ssl", `"ssl_dhparam" is ignored`, 0)
	f(ts.directives("ssl_ecdh_curve nosuchcurve;"), "ssl", `unknown curve "nosuchcurve"`, 1)
	f(ts.directives("ssl_verify_client on;"), "ssl", `no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client`, 1)
	f("ssl_certificate "+ts.cert+";\nssl_certificate_key engine:pkcs11:key;", "ssl", "OpenSSL engines and stores are not supported", 1)
	f(ts.directives("proxy_ssl on;\nproxy_starttls on;"), "", `"proxy_ssl" and "proxy_starttls" cannot both be on`, 1)
}

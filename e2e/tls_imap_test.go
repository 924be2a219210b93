package e2e

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
)

// IMAP over TLS: implicit (listen ... ssl), STARTTLS on and only, the
// capability lines of reference §3.1.4, ALPN, the injection defence.

func TestTLSIMAPImplicit(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsIMAPRig(t, ts, "ssl", "")
	c := tlsDial(t, r.port, ts.clientConf)
	c.expect("* OK IMAP4 ready")
	c.send("a1 CAPABILITY\r\n")
	c.expect("* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=PLAIN", "a1 OK completed")
	c.send("a2 STARTTLS\r\n")
	c.expect("a2 BAD invalid command") // TLS already
	c.login("a3", "user", "pass")
	c.send("a4 ECHO over-tls\r\n")
	c.expect("* ECHO over-tls", "a4 OK ECHO completed")
	c.send("a5 LOGOUT\r\n")
	c.expect("* BYE fake backend logging out", "a5 OK LOGOUT completed")

	reqs := r.auth.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d auth requests", len(reqs))
	}
	q := reqs[0]
	if q.get("Auth-SSL") != "on" || q.get("Auth-SSL-Protocol") != "TLSv1.3" || !strings.HasPrefix(q.get("Auth-SSL-Cipher"), "TLS_") {
		t.Fatalf("Auth-SSL headers:\n%s", q.Raw)
	}
	// ssl_verify_client off: no Auth-SSL-Verify, nothing about certificates.
	if strings.Contains(q.Raw, "Auth-SSL-Verify") || strings.Contains(q.Raw, "Auth-SSL-Subject") {
		t.Fatalf("certificate headers without ssl_verify_client:\n%s", q.Raw)
	}
	// Header order: Auth-SSL after Client-IP (reference §2.2).
	if strings.Index(q.Raw, "Client-IP:") > strings.Index(q.Raw, "Auth-SSL:") {
		t.Fatalf("Auth-SSL before Client-IP:\n%s", q.Raw)
	}
}

func TestTLSIMAPTLS12Cipher(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsIMAPRig(t, ts, "ssl", "ssl_protocols TLSv1.2;\nssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;")
	c := tlsDial(t, r.port, ts.clientConf)
	c.expect("* OK IMAP4 ready")
	c.login("a1", "user", "pass")
	q := r.auth.requests()[0]
	if q.get("Auth-SSL-Protocol") != "TLSv1.2" || q.get("Auth-SSL-Cipher") != "ECDHE-ECDSA-AES128-GCM-SHA256" {
		t.Fatalf("want nginx's OpenSSL names:\n%s", q.Raw)
	}
	// TLS 1.3 is not offered any more.
	cfg := ts.clientConf.Clone()
	cfg.MinVersion = tls.VersionTLS13
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", r.tlsAddr(), cfg)
	if err == nil {
		nc.Close()
		t.Fatal("TLS 1.3 handshake succeeded with ssl_protocols TLSv1.2")
	}
}

func TestTLSIMAPStarttls(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsIMAPRig(t, ts, "", "starttls on;")
	c := dialIMAP(t, r.port)
	c.send("a1 CAPABILITY\r\n")
	c.expect("* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=PLAIN STARTTLS", "a1 OK completed")
	c.send("a2 STARTTLS\r\n")
	c.expect("a2 OK completed")
	c.startTLS(ts.clientConf)
	// No new greeting; capabilities without STARTTLS now.
	c.send("a3 CAPABILITY\r\n")
	c.expect("* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=PLAIN", "a3 OK completed")
	c.send("a4 STARTTLS\r\n")
	c.expect("a4 BAD invalid command")
	c.login("a5", "user", "pass")
	c.send("a6 NOOP\r\n")
	c.expect("a6 OK NOOP completed")
	if q := r.auth.requests()[0]; q.get("Auth-SSL") != "on" {
		t.Fatalf("no Auth-SSL after STARTTLS:\n%s", q.Raw)
	}
	// Plain login still allowed with starttls on.
	c2 := dialIMAP(t, r.port)
	c2.login("b1", "user", "pass")
}

func TestTLSIMAPStarttlsOnly(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsIMAPRig(t, ts, "", "starttls only;\nimap_auth plain login;")
	c := dialIMAP(t, r.port)
	c.send("a1 CAPABILITY\r\n")
	c.expect("* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ STARTTLS LOGINDISABLED", "a1 OK completed")
	c.send("a2 LOGIN user pass\r\n")
	c.expect("a2 BAD invalid command")
	c.send("a3 AUTHENTICATE PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.expect("a3 BAD invalid command")
	c.send("a4 STARTTLS\r\n")
	c.expect("a4 OK completed")
	c.startTLS(ts.clientConf)
	c.send("a5 CAPABILITY\r\n")
	c.expect("* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=PLAIN AUTH=LOGIN", "a5 OK completed")
	c.login("a6", "user", "pass")
	if n := len(r.auth.requests()); n != 1 {
		t.Fatalf("%d auth requests, want 1 (after TLS)", n)
	}
}

// TestTLSIMAPStarttlsInjection: commands pipelined after STARTTLS in the
// same plaintext segment are dropped, never run inside the TLS session
// (CVE-2014-3556 class).
func TestTLSIMAPStarttlsInjection(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsIMAPRig(t, ts, "", "starttls on;")
	c := dialIMAP(t, r.port)
	c.send("a1 STARTTLS\r\na2 LOGIN user pass\r\na3 CAPABILITY\r\n")
	c.expect("a1 OK completed")
	c.startTLS(ts.clientConf)
	c.send("b1 NOOP\r\n")
	c.expect("b1 OK completed")
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("injected LOGIN reached auth_http (%d requests)", n)
	}
}

func TestTLSIMAPALPN(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsIMAPRig(t, ts, "ssl", "")
	ok := ts.clientConf.Clone()
	ok.NextProtos = []string{"imap"}
	c := tlsDial(t, r.port, ok)
	c.expect("* OK IMAP4 ready")
	bad := ts.clientConf.Clone()
	bad.NextProtos = []string{"pop3", "http/1.1"}
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", r.tlsAddr(), bad)
	if err == nil {
		nc.Close()
		t.Fatal("handshake with a wrong ALPN succeeded")
	}
	if !strings.Contains(err.Error(), "no application protocol") {
		t.Fatalf("want a no_application_protocol alert, got %v", err)
	}
}

// TestTLSHandshakeTimeout: a client that connects to an ssl listener and
// says nothing is dropped after `timeout`, like any silent client.
func TestTLSHandshakeTimeout(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsIMAPRig(t, ts, "ssl", "timeout 1s;")
	c := dial(t, r.port)
	c.expectEOF()
	r.p.mustBeAlive(t)
}

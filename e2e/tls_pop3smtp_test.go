package e2e

import (
	"strings"
	"testing"
)

// POP3 STLS and SMTP STARTTLS on the wire (reference §3.2.1, §3.3.1, §5),
// and implicit TLS for both, with Go clients against the scripted backends.

func TestTLSPOP3Stls(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsPOP3Rig(t, ts, "", "starttls on;")
	c := dialPOP3(t, r.port)
	c.send("CAPA\r\n")
	c.expect("+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", "STLS", ".")
	// Injection: USER/PASS pipelined behind STLS must be dropped.
	c.send("STLS\r\nUSER user\r\nPASS pass\r\n")
	c.expect("+OK")
	c.startTLS(ts.clientConf)
	c.send("CAPA\r\n")
	c.expect("+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", ".")
	c.send("STLS\r\n")
	c.expect("-ERR invalid command")
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("injected USER/PASS reached auth_http (%d requests)", n)
	}
	c.send("USER user\r\nPASS pass\r\n")
	c.expect("+OK")
	c.line() // the backend's +OK to PASS
	c.send("ECHO tls\r\n")
	c.expect("+OK tls")
	if q := r.auth.requests()[0]; q.get("Auth-SSL") != "on" || q.get("Auth-Protocol") != "pop3" {
		t.Fatalf("auth request:\n%s", q.Raw)
	}
}

func TestTLSPOP3StlsOnly(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsPOP3Rig(t, ts, "", "starttls only;")
	c := dialPOP3(t, r.port)
	c.send("CAPA\r\n")
	c.expect("+OK Capability list follows", "TOP", "UIDL", "STLS", ".")
	for _, cmd := range []string{"USER user", "APOP user 0123456789abcdef0123456789abcdef", "AUTH PLAIN " + b64("\x00user\x00pass"), "AUTH"} {
		c.send(cmd + "\r\n")
		c.expect("-ERR invalid command")
	}
	c.send("STLS\r\n")
	c.expect("+OK")
	c.startTLS(ts.clientConf)
	c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.line() // backend +OK
	c.send("ECHO x\r\n")
	c.expect("+OK x")
}

func TestTLSPOP3Implicit(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsPOP3Rig(t, ts, "ssl", "")
	c := tlsDial(t, r.port, ts.clientConf)
	c.expect("+OK POP3 ready")
	c.send("CAPA\r\n")
	c.expect("+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", ".")
	c.send("USER user\r\nPASS pass\r\n")
	c.expect("+OK")
	c.line()
	c.send("QUIT\r\n")
	c.expect("+OK fake pop3 bye")
}

func TestTLSSMTPStarttls(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsSMTPRig(t, ts, "", "starttls on;\nsmtp_capabilities SIZE PIPELINING;")
	c := dialSMTP(t, r.port)
	c.send("EHLO c.example\r\n")
	c.expect("250-mx.test", "250-SIZE", "250-PIPELINING", "250-AUTH PLAIN LOGIN", "250 STARTTLS")
	// Injection: AUTH pipelined behind STARTTLS must be dropped, and the
	// HELO given before TLS is forgotten.
	c.send("STARTTLS\r\nAUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.expect("220 2.0.0 Start TLS")
	c.startTLS(ts.clientConf)
	c.send("EHLO c2.example\r\n")
	c.expect("250-mx.test", "250-SIZE", "250-PIPELINING", "250 AUTH PLAIN LOGIN")
	c.send("STARTTLS\r\n")
	c.expect("500 5.5.1 Invalid command")
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("injected AUTH reached auth_http (%d requests)", n)
	}
	c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.expect("235 2.0.0 OK")
	c.send("NOOP\r\n")
	c.expect("250 2.0.0 Ok")
	q := r.auth.requests()[0]
	if q.get("Auth-SSL") != "on" || q.get("Auth-SSL-Protocol") != "TLSv1.3" {
		t.Fatalf("auth request:\n%s", q.Raw)
	}
	if got := r.be.session(t, 0).Lines(); !strings.Contains(got, "EHLO c2.example") || strings.Contains(got, "c.example\r") {
		t.Fatalf("backend saw:\n%s", got)
	}
}

func TestTLSSMTPStarttlsOnly(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsSMTPRig(t, ts, "", "starttls only;")
	c := dialSMTP(t, r.port)
	c.send("EHLO c.example\r\n")
	c.expect("250-mx.test", "250 STARTTLS")
	c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.expect("500 5.5.1 Invalid command")
	c.send("STARTTLS\r\n")
	c.expect("220 2.0.0 Start TLS")
	c.startTLS(ts.clientConf)
	c.send("EHLO c.example\r\n")
	c.expect("250-mx.test", "250 AUTH PLAIN LOGIN")
	c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.expect("235 2.0.0 OK")
}

func TestTLSSMTPImplicit(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsSMTPRig(t, ts, "ssl", "")
	c := tlsDial(t, r.port, ts.clientConf)
	c.expect("220 mx.test ESMTP ready")
	c.send("EHLO c.example\r\n")
	c.expect("250-mx.test", "250 AUTH PLAIN LOGIN")
	c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.expect("235 2.0.0 OK")
	c.send("QUIT\r\n")
	c.expect("221 2.0.0 Bye")
}

package loop

import (
	"encoding/base64"
	"strings"
	"testing"

	"mailproxy/config"
)

// OAUTHBEARER (RFC 7628) and XOAUTH2 as nginx's PR #1590 speaks them,
// through the transcript harness: the token goes to auth_http as
// Auth-Pass, Auth-Error-SASL comes back as the error challenge, and the
// backend logs in with the same mechanism when auth_http sends no
// Auth-Pass.

func oauthB64(msg string) string { return base64.StdEncoding.EncodeToString([]byte(msg)) }

var (
	oauthToken   = oauthB64("n,a=test@example.com,\x01auth=Bearer secretok\x01\x01")
	xoauth2Token = oauthB64("user=test@example.com\x01auth=Bearer secretok\x01\x01")
)

func oauthConf(p config.Protocol) *config.Server {
	return testServerConfig(p, func(c *config.Server) {
		c.IMAPAuth |= config.AuthOAuth
		c.POP3Auth |= config.AuthOAuth
		c.SMTPAuth |= config.AuthOAuth
	})
}

func TestOAuthTranscript(t *testing.T) {
	f := func(p config.Protocol, lines ...string) {
		t.Helper()
		tr := newTranscript(t, oauthConf(p))
		tr.take()
		tr.script(lines...)
	}
	ok := "S: [auth oauthbearer test@example.com secretok]"
	f(config.IMAP, "C: a1 CAPABILITY\n", "S: * CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=PLAIN AUTH=OAUTHBEARER AUTH=XOAUTH2\na1 OK completed\n")
	f(config.IMAP, "C: a1 AUTHENTICATE OAUTHBEARER "+oauthToken+"\n", ok)
	f(config.IMAP, "C: a1 AUTHENTICATE OAUTHBEARER\n", "S: + \n", "C: "+oauthToken+"\n", ok)
	f(config.IMAP, "C: a1 AUTHENTICATE XOAUTH2 "+xoauth2Token+"\n", "S: [auth xoauth2 test@example.com secretok]")
	f(config.IMAP, "C: a1 AUTHENTICATE OAUTHBEARER "+oauthB64("n,a=u,\x01auth=Basic x\x01\x01")+"\n", "S: a1 BAD invalid command\n")
	f(config.POP3, "C: CAPA\n", "S: +OK Capability list follows\nTOP\nUSER\nUIDL\nSASL PLAIN LOGIN OAUTHBEARER XOAUTH2\n.\n")
	f(config.POP3, "C: AUTH OAUTHBEARER "+oauthToken+"\n", ok)
	f(config.POP3, "C: AUTH XOAUTH2\n", "S: + \n", "C: "+xoauth2Token+"\n", "S: [auth xoauth2 test@example.com secretok]")
	f(config.SMTP, "C: EHLO c\n", "S: 250-mx.test\n250-SIZE\n250-ENHANCEDSTATUSCODES\n250 AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2\n")
	f(config.SMTP, "C: AUTH OAUTHBEARER "+oauthToken+"\n", ok)
	f(config.SMTP, "C: AUTH OAUTHBEARER\n", "S: 334 \n", "C: "+oauthToken+"\n", ok)
	// Not enabled: refused as nginx refuses an unknown mechanism.
	tr := newTranscript(t, testServerConfig(config.IMAP, nil))
	tr.take()
	tr.script("C: a1 AUTHENTICATE OAUTHBEARER "+oauthToken+"\n", "S: a1 BAD invalid command\n")
}

// TestOAuthLargeToken: a 6 KB token (Microsoft 365 and Google JWTs run
// to several KB) fits in every protocol, although the client buffers
// default to 4 KB.
func TestOAuthLargeToken(t *testing.T) {
	tok := strings.Repeat("J", 6<<10)
	b64 := oauthB64("n,a=u@x,\x01auth=Bearer " + tok + "\x01\x01")
	want := "S: [auth oauthbearer u@x " + tok + "]"
	for p, line := range map[config.Protocol]string{config.IMAP: "a1 AUTHENTICATE OAUTHBEARER ", config.POP3: "AUTH OAUTHBEARER ", config.SMTP: "AUTH OAUTHBEARER "} {
		tr := newTranscript(t, oauthConf(p))
		tr.take()
		tr.script("C: "+line+b64+"\n", want)
	}
}

// TestOAuthErrorChallenge: Auth-Error-SASL reaches the client as the
// error challenge; the failure reply follows its dummy response.
func TestOAuthErrorChallenge(t *testing.T) {
	const sasl = "eyJzY2hlbWVzIjoiQmVhcmVyIiwic3RhdHVzIjoiNDAwIn0="
	f := func(p config.Protocol, cmd, challenge, dummy, failed string) {
		t.Helper()
		// Without Auth-Wait: challenge at once, failure, close.
		tr := newTranscript(t, oauthConf(p))
		tr.take()
		tr.script("C: "+cmd+"\n", "S: [auth oauthbearer test@example.com secretok]")
		if got := tr.answer("Auth-Status: auth-failed\r\nAuth-Error-SASL: " + sasl + "\r\n"); got != crlf(challenge+sasl+"\n") {
			t.Fatalf("challenge %q", got)
		}
		tr.script("C: "+dummy+"\n", "S: "+failed+"[closed]")
		// With Auth-Wait: after the delay, and the session goes on.
		tr = newTranscript(t, oauthConf(p))
		tr.take()
		tr.script("C: "+cmd+"\n", "S: [auth oauthbearer test@example.com secretok]")
		if got := tr.answer("Auth-Status: auth-failed\r\nAuth-Wait: 1\r\nAuth-Error-SASL: " + sasl + "\r\n"); got != "" {
			t.Fatalf("before the Auth-Wait delay: %q", got)
		}
		tr.s.fireTimer()
		if got := tr.take(); got != crlf(challenge+sasl+"\n") {
			t.Fatalf("challenge after the delay %q", got)
		}
		tr.script("C: "+dummy+"\n", "S: "+failed, "C: "+cmd+"\n", "S: [auth oauthbearer test@example.com secretok]")
	}
	f(config.IMAP, "a1 AUTHENTICATE OAUTHBEARER "+oauthToken, "+ ", "AQ==", "a1 NO auth-failed\n")
	f(config.POP3, "AUTH OAUTHBEARER "+oauthToken, "+ ", "AQ==", "-ERR auth-failed\n")
	f(config.SMTP, "AUTH OAUTHBEARER "+oauthToken, "334 ", "", "535 5.7.0 auth-failed\n")
	// Anything but the dummy response is a protocol error.
	tr := newTranscript(t, oauthConf(config.IMAP))
	tr.take()
	tr.script("C: a1 AUTHENTICATE OAUTHBEARER "+oauthToken+"\n", "S: [auth oauthbearer test@example.com secretok]")
	tr.answer("Auth-Status: auth-failed\r\nAuth-Wait: 1\r\nAuth-Error-SASL: " + sasl + "\r\n")
	tr.s.fireTimer()
	tr.take()
	tr.script("C: foo\n", "S: a1 BAD invalid command\n", "C: a2 NOOP\n", "S: a2 OK completed\n")
}

// TestOAuthBackendLogin: without Auth-Pass the backend gets the client's
// mechanism and token; with it, the usual LOGIN.
func TestOAuthBackendLogin(t *testing.T) {
	tr := newTranscript(t, oauthConf(config.IMAP))
	tr.take()
	tr.script("C: t1 AUTHENTICATE OAUTHBEARER "+oauthToken+"\n", "S: [auth oauthbearer test@example.com secretok]")
	tr.answer("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\n")
	if got := tr.backend("* OK ready\r\n"); got != "t1 AUTHENTICATE OAUTHBEARER "+oauthToken+"\r\n | " {
		t.Fatalf("IMAP backend got %q", got)
	}
	if got := tr.backend("t1 OK done\r\n"); got != " | t1 OK done\r\n[relay]" {
		t.Fatalf("IMAP backend OK: %q", got)
	}

	tr = newTranscript(t, oauthConf(config.IMAP))
	tr.take()
	tr.script("C: t1 AUTHENTICATE OAUTHBEARER "+oauthToken+"\n", "S: [auth oauthbearer test@example.com secretok]")
	tr.answer("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-Pass: master\r\n")
	if got := tr.backend("* OK ready\r\n"); got != "t1 LOGIN {16}\r\n | " {
		t.Fatalf("IMAP backend with Auth-Pass got %q", got)
	}

	tr = newTranscript(t, oauthConf(config.POP3))
	tr.take()
	tr.script("C: AUTH XOAUTH2 "+xoauth2Token+"\n", "S: [auth xoauth2 test@example.com secretok]")
	tr.answer("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 110\r\n")
	if got := tr.backend("+OK hi\r\n"); got != "AUTH XOAUTH2 "+xoauth2Token+"\r\n | " {
		t.Fatalf("POP3 backend got %q", got)
	}
	if got := tr.backend("+ eyJ9\r\n"); got != "\r\n | " {
		t.Fatalf("POP3 backend error challenge answered %q", got)
	}
	if got := tr.backend("-ERR no\r\n"); got != " | -ERR internal server error\r\n[closed]" {
		t.Fatalf("POP3 backend refusal: %q", got)
	}
}

package e2e

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
)

// SMTP towards a backend with STARTTLS (proxy_starttls) and implicit TLS
// (proxy_ssl): the scripted SMTP backend behind a small TLS front that
// speaks the plaintext part of RFC 3207 itself.

func (c *tlsSkipFirstWrite) Write(p []byte) (int, error) {
	if !c.skipped {
		c.skipped = true
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func TestTLSBackendSMTP(t *testing.T) {
	t.Parallel()
	ca := newTLSCA(t, "backend CA")
	certPath, keyPath, _ := ca.issue(t, tlsLeafOpts{cn: "smtp.backend.test", dns: []string{"smtp.backend.test"}})
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}}
	for _, mode := range []string{"proxy_starttls", "proxy_ssl"} {
		t.Run(mode, func(t *testing.T) {
			be := startTLSSMTPBackend(t, cfg, mode == "proxy_starttls")
			auth := startAuth(t, func(*authReq) string { return authOK(be.Port) })
			port := freePort(t)
			extra := fmt.Sprintf("%s on;\nproxy_ssl_trusted_certificate %s;\nproxy_ssl_name smtp.backend.test;", mode, ca.Path)
			startProxy(t, pop3ServerConf(t, "smtp", auth.Addr, port, extra))
			c := dialSMTP(t, port)
			c.send("EHLO client.example\r\n")
			c.expect("250-mx.test", "250 AUTH PLAIN LOGIN")
			c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
			c.expect("235 2.0.0 OK")
			c.send("MAIL FROM:<a@example.org>\r\n")
			c.expect("250 2.1.0 Ok")
			c.send("QUIT\r\n")
			c.expect("221 2.0.0 Bye")
			be.mu.Lock()
			defer be.mu.Unlock()
			if len(be.sessions) != 1 {
				t.Fatalf("%d TLS sessions at the backend", len(be.sessions))
			}
			got := be.sessions[0].Lines()
			for _, w := range []string{"EHLO mx.test\r\n", "XCLIENT ADDR=127.0.0.1 LOGIN=user NAME=[UNAVAILABLE]\r\n", "EHLO client.example\r\n", "MAIL FROM:<a@example.org>\r\n"} {
				if !strings.Contains(got, w) {
					t.Fatalf("backend (over TLS) lacks %q:\n%s", w, got)
				}
			}
			if mode == "proxy_starttls" {
				// Nothing but EHLO and STARTTLS in plaintext: no credentials.
				if p := be.plain[0]; p != "EHLO mx.test\r\nSTARTTLS\r\n" {
					t.Fatalf("plaintext part of the backend dialogue: %q", p)
				}
			}
		})
	}
}

package e2e

import (
	"strings"
	"testing"
)

// TestPPBeforeTLS: on a `listen ... ssl proxy_protocol` socket the header
// is read before the TLS handshake (reference §6), whether it arrives on
// its own or together with the ClientHello.
func TestPPBeforeTLS(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	r := tlsIMAPRig(t, ts, "ssl proxy_protocol", "set_real_ip_from 127.0.0.1;")
	const hdr = "PROXY TCP4 192.0.2.1 198.51.100.2 4567 993\r\n"
	for _, together := range []bool{false, true} {
		c := dial(t, r.port)
		if together {
			c.c = &ppPrefixConn{Conn: c.c, pre: []byte(hdr)}
		} else {
			c.send(hdr)
		}
		c.startTLS(ts.clientConf)
		c.expect("* OK IMAP4 ready")
		c.login("a1", "user", "pass")
		reqs := r.auth.take()
		if len(reqs) != 1 {
			t.Fatalf("%d auth requests", len(reqs))
		}
		q := reqs[0]
		for k, v := range map[string]string{
			"Client-IP": "192.0.2.1", "Auth-SSL": "on",
			"Proxy-Protocol-Addr": "192.0.2.1", "Proxy-Protocol-Port": "4567",
			"Proxy-Protocol-Server-Addr": "198.51.100.2", "Proxy-Protocol-Server-Port": "993",
		} {
			if got := q.get(k); got != v {
				t.Errorf("together=%v: %s %q, want %q\n%s", together, k, got, v, q.Raw)
			}
		}
		// nginx's order: Proxy-Protocol-* before Auth-SSL (reference §2.2).
		if strings.Index(q.Raw, "Proxy-Protocol-Server-Port:") > strings.Index(q.Raw, "Auth-SSL:") {
			t.Errorf("Auth-SSL before Proxy-Protocol-*:\n%s", q.Raw)
		}
	}

	// A TLS ClientHello where the header should be is a broken header.
	c := dial(t, r.port)
	c.send("\x16\x03\x01\x00\x05hello")
	c.expectEOF()
}

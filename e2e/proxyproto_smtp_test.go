package e2e

import (
	"testing"
)

// TestPPSMTPXClient: XCLIENT ADDR= is the client after realip (reference
// §1.8, §3.3.3), IPv6 with its prefix; untrusted, it is the real peer.
func TestPPSMTPXClient(t *testing.T) {
	t.Parallel()
	f := func(extra, header, wantAddr, wantClientIP string) {
		t.Helper()
		r := ppSMTPRig(t, extra)
		c := dial(t, r.port)
		c.send(header)
		c.expect("220 mx.test ESMTP ready")
		c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
		c.expect("235 2.0.0 OK")
		want := "EHLO mx.test\r\nXCLIENT ADDR=" + wantAddr + " LOGIN=user NAME=[UNAVAILABLE]\r\n"
		if got := r.be.session(t, 0).Lines(); got != want {
			t.Errorf("backend got %q, want %q", got, want)
		}
		req := r.auth.requests()[0]
		if got := req.get("Client-IP"); got != wantClientIP {
			t.Errorf("Client-IP %q, want %q", got, wantClientIP)
		}
		if got := req.get("Proxy-Protocol-Addr"); got == "" {
			t.Errorf("no Proxy-Protocol-Addr:\n%s", req.Raw)
		}
	}
	f("set_real_ip_from 127.0.0.1;", "PROXY TCP4 192.0.2.1 198.51.100.2 4567 25\r\n", "192.0.2.1", "192.0.2.1")
	f("set_real_ip_from 127.0.0.1;", "PROXY TCP6 2001:db8::7 2001:db8::1 4567 25\r\n", "IPV6:2001:db8::7", "2001:db8::7")
	f("set_real_ip_from 192.0.2.0/24;", "PROXY TCP4 192.0.2.1 198.51.100.2 4567 25\r\n", "127.0.0.1", "127.0.0.1")
}

// TestPPSMTPGreetingDelay: smtp_greeting_delay starts after the header,
// and the delay timer does not stand in for the header's `timeout`.
func TestPPSMTPGreetingDelay(t *testing.T) {
	t.Parallel()
	r := ppSMTPRig(t, "set_real_ip_from 127.0.0.1;\nsmtp_greeting_delay 1s;\ntimeout 2s;")
	c := dial(t, r.port)
	c.send("PROXY TCP4 192.0.2.1 198.51.100.2 4567 25\r\n")
	c.expect("220 mx.test ESMTP ready")
	c.send("QUIT\r\n")
	c.expect("221 2.0.0 Bye")
	c.expectEOF()

	c = dial(t, r.port)
	c.expectEOF() // no header: closed silently at `timeout`
}

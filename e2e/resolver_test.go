package e2e

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The SMTP resolver (reference §3.3.4): a PTR lookup of the client address,
// the name checked against [A-Za-z0-9.-], a forward lookup that must give
// the client's address back; the result is Client-Host in auth_http and
// NAME= in XCLIENT. Clients connect from distinct 127.0.0.x addresses so
// that the fake DNS server gives each a different answer.

// TestSMTPResolverClientHost checks Client-Host and XCLIENT NAME= for
// every outcome of the lookups.
func TestSMTPResolverClientHost(t *testing.T) {
	t.Parallel()
	r, _ := newResolverRig(t, "")
	plain := "AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n"
	f := func(ip, want string) {
		t.Helper()
		n := r.be.count()
		nreq := len(r.auth.requests())
		c := dialFrom(t, ip, r.port)
		c.expect("220 mx.test ESMTP ready")
		c.send(plain)
		c.expect("235 2.0.0 OK")
		reqs := r.auth.requests()
		if len(reqs) != nreq+1 {
			t.Fatalf("%s: got %d auth requests, want 1", ip, len(reqs)-nreq)
		}
		if got := reqs[nreq].get("Client-IP"); got != ip {
			t.Fatalf("%s: Client-IP %q", ip, got)
		}
		if got := reqs[nreq].get("Client-Host"); got != want {
			t.Fatalf("%s: Client-Host %q, want %q", ip, got, want)
		}
		xc := "EHLO mx.test\r\nXCLIENT ADDR=" + ip + " LOGIN=user NAME=" + want + "\r\n"
		if got := r.be.session(t, n).Lines(); got != xc {
			t.Fatalf("%s: backend got %q, want %q", ip, got, xc)
		}
		c.send("QUIT\r\n")
		c.expect("221 2.0.0 Bye")
		c.expectEOF()
	}
	f("127.0.0.2", "ok.test")
	f("127.0.0.3", "[UNAVAILABLE]")         // PTR NXDOMAIN
	f("127.0.0.4", "[TEMPUNAVAIL]")         // PTR SERVFAIL
	f("127.0.0.5", "[TEMPUNAVAIL]")         // '_' in the PTR name (nginx 1.29.7, CVE-2026-28753; in Debian's 1.22.1 too)
	f("127.0.0.6", "[TEMPUNAVAIL]")         // a space in the PTR name
	f("127.0.0.7", "[UNAVAILABLE]")         // forward lookup gives another address
	f("127.0.0.8", "[UNAVAILABLE]")         // forward NXDOMAIN
	f("127.0.0.9", "[TEMPUNAVAIL]")         // forward SERVFAIL
	f("127.0.0.10", "[TEMPUNAVAIL]")        // PTR timeout (resolver_timeout 1s)
	f("127.0.0.11", "[UNAVAILABLE]")        // PTR: empty answer (nginx: "3: Host not found")
	f("127.0.0.12", "[UNAVAILABLE]")        // forward: empty answers (nginx: "3: Host not found")
	f("127.0.0.13", "[TEMPUNAVAIL]")        // forward timeout
	f("127.0.0.14", "multi-1.example.test") // one of several addresses matches; nginx lower-cases
	f("127.0.0.15", "first.test")           // the first PTR name is used

	// nginx's error lines (mailproxy's carry the same text).
	data, err := os.ReadFile(r.p.errorLog)
	if err != nil {
		t.Fatal(err)
	}
	logs := string(data)
	for _, want := range []string{
		`127.0.0.3 could not be resolved (3: Host not found) while in resolving client address`,
		`127.0.0.4 could not be resolved (2: Server failure) while in resolving client address`,
		`127.0.0.5 resolved to invalid host name "bad_name.test" while in resolving client address`,
		`"fwdnx.test" could not be resolved (3: Host not found) while in resolving client hostname`,
		`127.0.0.10 could not be resolved (110: Operation timed out) while in resolving client address`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log line %q in\n%s", want, tail(logs, 4000))
		}
	}
}

// TestSMTPResolverProxyProtocol: the address looked up is the client's
// after realip, and a command sent right behind the PROXY header waits
// for the greeting.
func TestSMTPResolverProxyProtocol(t *testing.T) {
	t.Parallel()
	d := startDNS(t)
	resolverTable(d)
	r := ppSMTPRig(t, "set_real_ip_from 127.0.0.1;\nresolver "+d.Addr+";\nresolver_timeout 1s;")
	c := dial(t, r.port)
	c.send("PROXY TCP4 127.0.0.2 127.0.0.1 4567 25\r\nEHLO c.example\r\n")
	c.expect("220 mx.test ESMTP ready", "250-mx.test", "250 AUTH PLAIN LOGIN")
	c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.expect("235 2.0.0 OK")
	if got := r.auth.requests()[0].get("Client-Host"); got != "ok.test" {
		t.Errorf("Client-Host %q", got)
	}
	want := "EHLO mx.test\r\nXCLIENT ADDR=127.0.0.2 LOGIN=user NAME=ok.test\r\nEHLO c.example\r\n"
	if got := r.be.session(t, 0).Lines(); got != want {
		t.Errorf("backend got %q, want %q", got, want)
	}
}

// TestSMTPResolverGreetingWaits: the greeting is held until the lookups
// end, and what the client sends meanwhile is not read: without a
// greeting delay it is answered after the greeting, with one it is an
// early talker (nginx's block_reading, then invalid_pipelining).
func TestSMTPResolverGreetingWaits(t *testing.T) {
	t.Parallel()
	f := func(extra string, want ...string) {
		t.Helper()
		d := startDNS(t)
		gate := make(chan struct{})
		d.seen = make(chan string, 16)
		d.ptr("127.0.0.20", dnsAnswer{names: []string{"early.test"}, gate: gate})
		d.fwd("early.test", dnsAnswer{addrs: []netip.Addr{netip.MustParseAddr("127.0.0.20")}})
		r := newSMTPRig(t, "resolver "+d.Addr+";\n"+extra)
		// The rig's readiness probe came from 127.0.0.1: drop its queries.
		for len(d.seen) > 0 {
			<-d.seen
		}
		c := dialFrom(t, "127.0.0.20", r.port)
		select {
		case q := <-d.seen:
			for q != "ptr 20.0.0.127.in-addr.arpa" {
				q = <-d.seen
			}
		case <-time.After(ioWait):
			t.Fatal("no PTR query")
		}
		c.send("EHLO early.client\r\n")
		if l, err := c.readLine(200 * time.Millisecond); err == nil {
			t.Fatalf("got %q while the PTR lookup is pending", l)
		}
		close(gate)
		c.expect(want...)
	}
	f("", "220 mx.test ESMTP ready", "250-mx.test", "250 AUTH PLAIN LOGIN")
	f("smtp_greeting_delay 1s;", "503 5.5.0 Improper use of SMTP command pipelining")
}

// TestSMTPResolverCache: a second connection from the same address is
// answered from the cache (the records' TTL is 60s).
func TestSMTPResolverCache(t *testing.T) {
	t.Parallel()
	r, d := newResolverRig(t, "")
	for range 2 {
		c := dialFrom(t, "127.0.0.2", r.port)
		c.expect("220 mx.test ESMTP ready")
		c.send("QUIT\r\n")
		c.expect("221 2.0.0 Bye")
		c.expectEOF()
	}
	if n := d.count("PTR 2.0.0.127.in-addr.arpa"); n != 1 {
		t.Fatalf("%d PTR queries, want 1", n)
	}
	if n := d.count("A ok.test"); n != 1 {
		t.Fatalf("%d A queries, want 1", n)
	}
}

// TestIMAPResolverUnused: the resolver is SMTP only; an IMAP server
// accepts it and never asks, and sends no Client-Host.
func TestIMAPResolverUnused(t *testing.T) {
	t.Parallel()
	d := startDNS(t)
	resolverTable(d)
	r := newIMAPRig(t, "resolver "+d.Addr+";", backendOpts{})
	c := dialIMAP(t, r.port)
	c.login("a1", "user", "pass")
	reqs := r.auth.requests()
	if len(reqs) != 1 || reqs[0].get("Client-Host") != "" || strings.Contains(reqs[0].Raw, "Client-Host") {
		t.Fatalf("auth requests %+v", reqs)
	}
	d.mu.Lock()
	q := d.queries
	d.mu.Unlock()
	if len(q) != 0 {
		t.Fatalf("IMAP server sent DNS queries %q", q)
	}
}

// TestSMTPResolverImplicitTLS: on an ssl listener the lookups start after
// the handshake, and a command sent right behind it waits for them.
func TestSMTPResolverImplicitTLS(t *testing.T) {
	t.Parallel()
	d := startDNS(t)
	resolverTable(d)
	ts := newTLSSetup(t)
	r := tlsSMTPRig(t, ts, "ssl", "resolver "+d.Addr+";\nresolver_timeout 1s;")
	dl := &net.Dialer{Timeout: ioWait, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	tc, err := tls.DialWithDialer(dl, "tcp", "127.0.0.1:"+strconv.Itoa(r.port), ts.clientConf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	c := &client{t: t, c: tc, r: bufio.NewReaderSize(tc, 64<<10)}
	c.send("EHLO c.example\r\n")
	c.expect("220 mx.test ESMTP ready", "250-mx.test", "250 AUTH PLAIN LOGIN")
	c.send("AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n")
	c.expect("235 2.0.0 OK")
	want := "EHLO mx.test\r\nXCLIENT ADDR=127.0.0.2 LOGIN=user NAME=ok.test\r\nEHLO c.example\r\n"
	if got := r.be.session(t, 0).Lines(); got != want {
		t.Errorf("backend got %q, want %q", got, want)
	}
}

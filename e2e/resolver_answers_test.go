package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Unusual DNS answers to the SMTP resolver (issue 12): records of an
// unexpected type, a zero-length RDATA, an rcode nginx ignores, CNAMEs
// and uncompressed names. The expectations are nginx 1.22's (run this
// file with E2E_PROXY=nginx), except where a comment says mailproxy does
// better.

// resolverOddTable fills d with one client address per odd answer.
func resolverOddTable(d *dnsServer) {
	ip := netip.MustParseAddr
	name := func(n string) []byte { return dnsName(n) }
	// .30: a DNAME where the PTR should be.
	d.ptr("127.0.0.30", dnsAnswer{rrs: []dnsRec{{dnsTypeDNAME, "", name("other.test")}}})
	// .31: a PTR record with a zero-length RDATA.
	d.ptr("127.0.0.31", dnsAnswer{rrs: []dnsRec{{dnsTypePTR, "", nil}}})
	// .32: a CNAME, then the PTR of its target, in the same answer.
	d.ptr("127.0.0.32", dnsAnswer{rrs: []dnsRec{
		{dnsTypeCNAME, "", name("32.sub.rev.test")},
		{dnsTypePTR, "32.sub.rev.test", name("cname.test")}}})
	d.fwd("cname.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.32")}})
	// .33: only a CNAME; its target's PTR is a separate question.
	d.ptr("127.0.0.33", dnsAnswer{rrs: []dnsRec{{dnsTypeCNAME, "", name("33.sub.rev.test")}}})
	d.set("PTR 33.sub.rev.test", dnsAnswer{names: []string{"followed.test"}})
	d.fwd("followed.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.33")}})
	// .34: owner names written out in full, no compression anywhere.
	d.ptr("127.0.0.34", dnsAnswer{names: []string{"plain.test"}, full: true})
	d.fwd("plain.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.34")}, full: true})
	// .35: FORMERR.
	d.ptr("127.0.0.35", dnsAnswer{rcode: 1})
	// .36: REFUSED.
	d.ptr("127.0.0.36", dnsAnswer{rcode: 5})
	// .37: the forward lookup answered by a CNAME only.
	d.ptr("127.0.0.37", dnsAnswer{names: []string{"fwdcname.test"}})
	d.fwd("fwdcname.test", dnsAnswer{rrs: []dnsRec{{dnsTypeCNAME, "", name("target37.test")}}})
	d.fwd("target37.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.37")}})
	// .38: the forward lookup answered by a DNAME only.
	d.ptr("127.0.0.38", dnsAnswer{names: []string{"fwddname.test"}})
	d.fwd("fwddname.test", dnsAnswer{rrs: []dnsRec{{dnsTypeDNAME, "", name("other.test")}}})
	// .39: an A record with a zero-length RDATA (AAAA: an empty answer,
	// which nginx, asking both, waits past for the A).
	d.ptr("127.0.0.39", dnsAnswer{names: []string{"fwdzero.test"}})
	d.fwd("fwdzero.test", dnsAnswer{})
	d.set("A fwdzero.test", dnsAnswer{rrs: []dnsRec{{dnsTypeA, "", nil}}})
}

// TestSMTPResolverOddAnswers checks Client-Host, XCLIENT NAME= and the
// error log line for each odd answer.
func TestSMTPResolverOddAnswers(t *testing.T) {
	t.Parallel()
	d := startDNS(t)
	resolverOddTable(d)
	r := newSMTPRig(t, "resolver "+d.Addr+";\nresolver_timeout 1s;\n")
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
		if got := reqs[nreq].get("Client-Host"); got != want {
			t.Errorf("%s: Client-Host %q, want %q", ip, got, want)
		}
		xc := "EHLO mx.test\r\nXCLIENT ADDR=" + ip + " LOGIN=user NAME=" + want + "\r\n"
		if got := r.be.session(t, n).Lines(); got != xc {
			t.Errorf("%s: backend got %q, want %q", ip, got, xc)
		}
		c.send("QUIT\r\n")
		c.expect("221 2.0.0 Bye")
		c.expectEOF()
	}
	f("127.0.0.30", "[TEMPUNAVAIL]")
	f("127.0.0.31", "[TEMPUNAVAIL]")
	f("127.0.0.32", "cname.test")
	f("127.0.0.33", "followed.test") // nginx: [TEMPUNAVAIL], it does not follow a PTR's CNAME
	f("127.0.0.34", "plain.test")
	f("127.0.0.35", "[TEMPUNAVAIL]")
	f("127.0.0.36", "[TEMPUNAVAIL]")
	f("127.0.0.37", "fwdcname.test")
	f("127.0.0.38", "[TEMPUNAVAIL]")
	f("127.0.0.39", "[TEMPUNAVAIL]")

	data, err := os.ReadFile(r.p.errorLog)
	if err != nil {
		t.Fatal(err)
	}
	logs := string(data)
	for _, want := range []string{
		`127.0.0.30 could not be resolved (110: Operation timed out) while in resolving client address`,
		`127.0.0.31 could not be resolved (110: Operation timed out) while in resolving client address`,
		`127.0.0.35 could not be resolved (110: Operation timed out) while in resolving client address`,
		`127.0.0.36 could not be resolved (5: Operation refused) while in resolving client address`,
		`"fwddname.test" could not be resolved (110: Operation timed out) while in resolving client hostname`,
		`"fwdzero.test" could not be resolved (110: Operation timed out) while in resolving client hostname`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("no log line %q", want)
		}
	}
	if t.Failed() {
		t.Logf("error log:\n%s", tail(logs, 6000))
	}
}

// resolverServers starts n DNS servers on 127.0.0.1, 127.0.0.2, ... that
// record into one log as s0, s1, ...; each knows the names of the table
// given to fill.
func resolverServers(t *testing.T, n int, fill func(i int, d *dnsServer)) ([]*dnsServer, *dnsLog, string) {
	t.Helper()
	log := &dnsLog{}
	var ds []*dnsServer
	var addrs []string
	for i := range n {
		d := startDNSAt(t, "127.0.0."+strconv.Itoa(i+1))
		d.joinLog(log, "s"+strconv.Itoa(i))
		fill(i, d)
		ds = append(ds, d)
		addrs = append(addrs, d.Addr)
	}
	return ds, log, strings.Join(addrs, " ")
}

// resolverQueries is log without the AAAA questions (nginx asks AAAA
// beside A for an IPv4 client; mailproxy asks only the client's family).
func resolverQueries(log *dnsLog) []string {
	var out []string
	for _, e := range log.list() {
		if !strings.Contains(e, " aaaa ") {
			out = append(out, e)
		}
	}
	return out
}

// waitQueries waits until log holds n queries other than AAAA.
func waitQueries(t *testing.T, log *dnsLog, n int) {
	t.Helper()
	waitFor(t, ioWait, func() bool { return len(resolverQueries(log)) >= n },
		func() string { return fmt.Sprintf("queries %q, want %d", resolverQueries(log), n) })
}

// TestSMTPResolverFirstServerFirst: with several resolver addresses the
// first question goes to the first one, and each new question (not each
// connection) to the next, as nginx's last_connection counter does.
// Before the fix the first question went to the second address.
func TestSMTPResolverFirstServerFirst(t *testing.T) {
	t.Parallel()
	_, log, addrs := resolverServers(t, 3, func(_ int, d *dnsServer) {
		ip := netip.MustParseAddr
		for _, c := range []string{"2", "40", "41"} {
			d.ptr("127.0.0."+c, dnsAnswer{names: []string{"r" + c + ".test"}})
			d.fwd("r"+c+".test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0." + c)}})
		}
	})
	r := newSMTPRig(t, "resolver "+addrs+";\nresolver_timeout 1s;")
	// The rig's readiness probe from 127.0.0.1 asked first (NXDOMAIN).
	waitQueries(t, log, 1)
	for _, ip := range []string{"127.0.0.2", "127.0.0.40", "127.0.0.41", "127.0.0.2"} {
		c := dialFrom(t, ip, r.port)
		c.expect("220 mx.test ESMTP ready")
		c.send("QUIT\r\n")
		c.expect("221 2.0.0 Bye")
		c.expectEOF()
	}
	// The last connection is answered from the cache: no question.
	want := []string{
		"s0 ptr 1.0.0.127.in-addr.arpa",
		"s1 ptr 2.0.0.127.in-addr.arpa", "s2 a r2.test",
		"s0 ptr 40.0.0.127.in-addr.arpa", "s1 a r40.test",
		"s2 ptr 41.0.0.127.in-addr.arpa", "s0 a r41.test",
	}
	if got := resolverQueries(log); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("queries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSMTPResolverResendNextServer: a name server that does not answer
// within nginx's resend time (5s) gets the question no more, the next
// one does; the question after it goes on from the shared counter.
func TestSMTPResolverResendNextServer(t *testing.T) {
	t.Parallel()
	_, log, addrs := resolverServers(t, 2, func(i int, d *dnsServer) {
		ip := netip.MustParseAddr
		d.ptr("127.0.0.42", dnsAnswer{names: []string{"r42.test"}, hang: i == 1})
		d.fwd("r42.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.42")}})
		d.ptr("127.0.0.43", dnsAnswer{names: []string{"r43.test"}})
		d.fwd("r43.test", dnsAnswer{addrs: []netip.Addr{ip("127.0.0.43")}})
	})
	r := newSMTPRig(t, "resolver "+addrs+";\nresolver_timeout 10s;")
	waitQueries(t, log, 1)
	plain := "AUTH PLAIN " + b64("\x00user\x00pass") + "\r\n"
	for i, ip := range []string{"127.0.0.42", "127.0.0.43"} {
		c := dialFrom(t, ip, r.port)
		c.expect("220 mx.test ESMTP ready")
		c.send(plain)
		c.expect("235 2.0.0 OK")
		if got, want := r.auth.requests()[i].get("Client-Host"), "r"+ip[len("127.0.0."):]+".test"; got != want {
			t.Errorf("%s: Client-Host %q, want %q", ip, got, want)
		}
		c.send("QUIT\r\n")
		c.expect("221 2.0.0 Bye")
		c.expectEOF()
	}
	want := []string{
		"s0 ptr 1.0.0.127.in-addr.arpa",
		"s1 ptr 42.0.0.127.in-addr.arpa", "s0 ptr 42.0.0.127.in-addr.arpa", "s0 a r42.test",
		"s1 ptr 43.0.0.127.in-addr.arpa", "s0 a r43.test",
	}
	if got := resolverQueries(log); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("queries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

package e2e

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procFDs counts the open file descriptors of process pid, leaving out
// its TCP sockets connected to peer ("127.0.0.1:PORT"; "" leaves out
// none): the kept-alive auth_http connections, whose number is the auth
// client's keepalive policy (per loop, per in-flight call), not a leak.
func procFDs(t testing.TB, pid int, peer string) int {
	t.Helper()
	skip := map[string]bool{}
	if peer != "" {
		for inode := range tcpInodesTo(t, pid, peer) {
			skip["socket:["+inode+"]"] = true
		}
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if link, err := os.Readlink(dir + "/" + e.Name()); err == nil && skip[link] {
			continue
		}
		n++
	}
	return n
}

// tcpInodesTo returns the socket inodes of pid's IPv4 TCP connections whose
// remote end is peer, from /proc/PID/net/tcp (addresses in hex, the IP in
// host byte order on little-endian machines: 127.0.0.1 is 0100007F).
func tcpInodesTo(t testing.TB, pid int, peer string) map[string]bool {
	t.Helper()
	host, port, err := net.SplitHostPort(peer)
	if err != nil {
		t.Fatal(err)
	}
	ip := net.ParseIP(host).To4()
	p, err := strconv.Atoi(port)
	if ip == nil || err != nil {
		t.Fatalf("peer %q: want an IPv4 host:port", peer)
	}
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], p)
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[2] == want {
			out[f[9]] = true
		}
	}
	return out
}

// Every way a session can end gives its descriptors back: after a few
// hundred sessions that log in, fail, break the protocol, hang up during
// auth or mid-literal, or are refused by the backend, mailproxy holds as
// many descriptors as it did before them (its kept-alive auth_http
// connections aside: how many it keeps is the auth client's business).
func TestIMAPNoDescriptorLeak(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "auth_http_timeout 3s; max_errors 2;", backendOpts{})
	r.loginWorks(t) // opens a kept-alive auth_http connection
	if len(tcpInodesTo(t, r.p.PID, r.auth.Addr)) == 0 {
		t.Fatal("no kept-alive auth_http connection seen in /proc/PID/net/tcp: the filter below would leave out nothing")
	}
	base := procFDs(t, r.p.PID, r.auth.Addr)
	for i := range 20 {
		// logged in, relayed, logged out
		r.loginWorks(t)
		// wrong password, closed by the proxy
		c := dialIMAP(t, r.port)
		c.send(fmt.Sprintf("b%d LOGIN bad secret\r\n", i))
		c.expect(fmt.Sprintf("b%d NO Invalid login or password", i))
		c.expectEOF()
		// too many invalid commands
		c = dialIMAP(t, r.port)
		c.send("x1 FOO\r\nx2 BAR\r\n")
		c.expect("x1 BAD invalid command", "x2 BAD invalid command")
		c.expectEOF()
		// gone while auth_http works, and gone in the middle of a literal
		c = dialIMAP(t, r.port)
		c.send("a1 LOGIN retry secret\r\n")
		c.c.Close()
		c = dialIMAP(t, r.port)
		c.send("a1 LOGIN {10}\r\nab")
		c.c.Close()
		// connected and gone without a word
		c = dial(t, r.port)
		c.c.Close()
	}
	r.loginWorks(t)
	// Closes are processed by the loops asynchronously: poll, bounded.
	var now int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if now = procFDs(t, r.p.PID, r.auth.Addr); now <= base {
			return
		}
	}
	t.Fatalf("mailproxy holds %d descriptors after 120 finished sessions, %d before them", now, base)
}

package e2e

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PROXY protocol in (listen ... proxy_protocol, set_real_ip_from) and out
// (proxy_protocol on|v2), reference §6, §1.8 and §2.2.

// ppRig is mailproxy with one IMAP listener, a test auth server and the
// fake backend, optionally behind a ppFront that reads the PROXY header
// mailproxy sends to backends.
type ppRig struct {
	auth  *authServer
	be    *fakeBackend
	front *ppFront // nil unless the rig was asked for one
	p     *proc
	port  int
	dir   string
}

// newPPRig starts the pieces. listenParams follow the listen address
// ("proxy_protocol" or ""); extra goes inside mail{}; withFront puts a
// ppFront between mailproxy and the fake backend.
func newPPRig(t testing.TB, listenParams, extra string, withFront bool) *ppRig {
	t.Helper()
	r := &ppRig{dir: t.TempDir()}
	r.be = startBackend(t, backendOpts{})
	bePort := r.be.Port
	if withFront {
		r.front = ppStartFront(t, r.be.Port)
		bePort = r.front.port
	}
	r.auth = startAuth(t, userAuth(bePort))
	r.port = freePort(t)
	r.p = startProxy(t, ppConf(r.dir, r.auth.Addr, r.port, listenParams, extra))
	return r
}

// ppConf is imapConf with listen parameters.
func ppConf(dir, authAddr string, port int, listenParams, extra string) string {
	return fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
pid %s/mailproxy.pid;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
%s
    server {
        listen 127.0.0.1:%d %s;
        protocol imap;
    }
}
`, dir, dir, authAddr, indent(extra, "    "), port, listenParams)
}

// errorLog returns mailproxy's error_log so far.
func (r *ppRig) errorLog(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(r.dir + "/error.log")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ppAuthLines is nginx's auth request for a plain IMAP login with the
// given Client-IP and, when pp has four values, the Proxy-Protocol-*
// headers (addr, port, server addr, server port) in nginx's order.
func ppAuthLines(clientIP string, pp ...string) []string {
	l := authPlainReq("user", "pass", 1)
	l[len(l)-1] = "Client-IP: " + clientIP
	if len(pp) == 4 {
		l = append(l,
			"Proxy-Protocol-Addr: "+pp[0],
			"Proxy-Protocol-Port: "+pp[1],
			"Proxy-Protocol-Server-Addr: "+pp[2],
			"Proxy-Protocol-Server-Port: "+pp[3])
	}
	return l
}

// ppOneAuth returns the only auth request received.
func (r *ppRig) ppOneAuth(t testing.TB) *authReq {
	t.Helper()
	reqs := r.auth.take()
	if len(reqs) != 1 {
		t.Fatalf("got %d auth requests, want 1", len(reqs))
	}
	return reqs[0]
}

// ppV2 builds a v2 PROXY header by hand (spec §2.2), independently of the
// codec under test. cmd is 0 (LOCAL) or 1 (PROXY).
func ppV2(cmd byte, src, dst netip.AddrPort) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x20|cmd)
	if src.Addr().Is4() {
		b = append(b, 0x11, 0, 12)
		s, d := src.Addr().As4(), dst.Addr().As4()
		b = append(append(b, s[:]...), d[:]...)
	} else {
		b = append(b, 0x21, 0, 36)
		s, d := src.Addr().As16(), dst.Addr().As16()
		b = append(append(b, s[:]...), d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

// localPort is the client side's port of c, as mailproxy sees it.
func (c *client) localPort() string {
	return strconv.Itoa(c.c.LocalAddr().(*net.TCPAddr).Port)
}

// expectNothingYet checks that the server has sent nothing within a short
// read window (a negative check: it never waits for something to happen).
func (c *client) expectNothingYet() {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	b, err := c.r.ReadByte()
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("want no bytes yet, got %q, %v", b, err)
	}
}

func TestPPv1Trusted(t *testing.T) {
	t.Parallel()
	r := newPPRig(t, "proxy_protocol", "set_real_ip_from 127.0.0.1;", false)
	c := dial(t, r.port)
	// reference §2.2's example
	c.send("PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\n")
	c.expect("* OK IMAP4 ready")
	c.login("a1", "user", "pass")
	req := r.ppOneAuth(t)
	checkAuthReq(t, req, ppAuthLines("192.0.2.1", "192.0.2.1", "4567", "198.51.100.2", "143")...)
	if got := req.get("Client-Port"); got != "4567" { // mailproxy extension
		t.Errorf("Client-Port %q, want the PROXY source port 4567", got)
	}
	c.send("a2 LOGOUT\r\n")
	c.expect("* BYE fake backend logging out", "a2 OK LOGOUT completed")
	c.expectEOF()
}

func TestPPv1Untrusted(t *testing.T) {
	t.Parallel()
	for _, extra := range []string{"", "set_real_ip_from 10.0.0.0/8;\nset_real_ip_from unix:;"} {
		r := newPPRig(t, "proxy_protocol", extra, false)
		c := dial(t, r.port)
		c.send("PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\n")
		c.expect("* OK IMAP4 ready")
		c.login("a1", "user", "pass")
		req := r.ppOneAuth(t)
		// Not trusted: the real peer is the client, the header still goes
		// to auth_http (nginx 1.19.8+).
		checkAuthReq(t, req, ppAuthLines("127.0.0.1", "192.0.2.1", "4567", "198.51.100.2", "143")...)
		if got, want := req.get("Client-Port"), c.localPort(); got != want {
			t.Errorf("%q: Client-Port %q, want the real peer's %q", extra, got, want)
		}
	}
}

// TestPPPipelined: the header and the first commands in one write; the
// bytes after the header are the client's. (nginx 1.22 sends the greeting
// and then does not read the commands already received: an improvement.)
func TestPPPipelined(t *testing.T) {
	t.Parallel()
	r := newPPRig(t, "proxy_protocol", "set_real_ip_from 127.0.0.0/8;", false)
	c := dial(t, r.port)
	c.send("PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\na0 CAPABILITY\r\na1 LOGIN user pass\r\n")
	c.expect("* OK IMAP4 ready", "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN", "a0 OK completed",
		"a1 OK [CAPABILITY IMAP4rev1] Logged in")
	checkAuthReq(t, r.ppOneAuth(t), ppAuthLines("192.0.2.1", "192.0.2.1", "4567", "198.51.100.2", "143")...)
}

func TestPPv2(t *testing.T) {
	t.Parallel()
	r := newPPRig(t, "proxy_protocol", "set_real_ip_from 127.0.0.1/32;", false)

	c := dial(t, r.port)
	c.send(string(ppV2(1, netip.MustParseAddrPort("[2001:db8::7]:40000"), netip.MustParseAddrPort("[2001:db8::1]:993"))))
	c.expect("* OK IMAP4 ready")
	c.login("a1", "user", "pass")
	checkAuthReq(t, r.ppOneAuth(t), ppAuthLines("2001:db8::7", "2001:db8::7", "40000", "2001:db8::1", "993")...)

	c = dial(t, r.port)
	c.send(string(ppV2(1, netip.MustParseAddrPort("192.0.2.9:1"), netip.MustParseAddrPort("198.51.100.2:143"))))
	c.expect("* OK IMAP4 ready")
	c.login("a1", "user", "pass")
	checkAuthReq(t, r.ppOneAuth(t), ppAuthLines("192.0.2.9", "192.0.2.9", "1", "198.51.100.2", "143")...)
}

// TestPPNoAddresses: v2 LOCAL (a balancer's health check) and v1 UNKNOWN
// are accepted; the connection's own address stands and no
// Proxy-Protocol-* headers are sent, as in nginx.
func TestPPNoAddresses(t *testing.T) {
	t.Parallel()
	r := newPPRig(t, "proxy_protocol", "set_real_ip_from 127.0.0.1;", false)
	for _, h := range []string{
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN 192.0.2.1 198.51.100.2 4567 143\r\n",
		string(ppV2(0, netip.MustParseAddrPort("192.0.2.9:1"), netip.MustParseAddrPort("198.51.100.2:143"))),
	} {
		c := dial(t, r.port)
		c.send(h)
		c.expect("* OK IMAP4 ready")
		c.login("a1", "user", "pass")
		checkAuthReq(t, r.ppOneAuth(t), ppAuthLines("127.0.0.1")...)
	}
}

// TestPPSplitHeader: a header cut across several TCP writes is read whole
// (nginx peeks once and would call it broken), and nothing is sent before
// it is complete.
func TestPPSplitHeader(t *testing.T) {
	t.Parallel()
	r := newPPRig(t, "proxy_protocol", "set_real_ip_from 127.0.0.1;", false)
	v2 := string(ppV2(1, netip.MustParseAddrPort("192.0.2.9:1"), netip.MustParseAddrPort("198.51.100.2:143")))
	for _, parts := range [][]string{
		{"PRO", "XY TCP4 192.0.2.9 198.51.100.2 1 143", "\r", "\na1 LOGIN user pass\r\n"},
		{v2[:1], v2[1:13], v2[13:16], v2[16:20], v2[20:] + "a1 LOGIN user pass\r\n"},
	} {
		c := dial(t, r.port)
		c.c.(*net.TCPConn).SetNoDelay(true)
		for i, p := range parts {
			if i > 0 {
				c.expectNothingYet()
			}
			c.send(p)
		}
		c.expect("* OK IMAP4 ready", "a1 OK [CAPABILITY IMAP4rev1] Logged in")
		checkAuthReq(t, r.ppOneAuth(t), ppAuthLines("192.0.2.9", "192.0.2.9", "1", "198.51.100.2", "143")...)
	}
}

// TestPPBrokenHeader: closed without a single byte, and nginx's log line.
func TestPPBrokenHeader(t *testing.T) {
	t.Parallel()
	r := newPPRig(t, "proxy_protocol", "set_real_ip_from 127.0.0.1;", false)
	for _, h := range []string{
		"a1 LOGIN user pass\r\n",
		"PROXY TCP4 192.0.2.1\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 4567 70000\r\n",
		"PROXY UNKNOWN " + strings.Repeat("x", 100),
		"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c",
	} {
		c := dial(t, r.port)
		c.send(h)
		c.expectEOF()
	}
	// nginx writes the raw bytes into the log; mailproxy writes control
	// bytes as '_' (no log injection), so only the start is compared.
	log := r.errorLog(t)
	for _, want := range []string{
		`broken header: "a1 LOGIN user pass`,
		`broken header: "PROXY TCP4 192.0.2.1`,
		`broken header: "PROXY UNKNOWN xxx`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("error_log lacks %s:\n%s", want, log)
		}
	}
	if n := strings.Count(log, `" while reading PROXY protocol`); n < 5 {
		t.Errorf("%d broken-header lines, want 5:\n%s", n, log)
	}
	if len(r.auth.requests()) != 0 {
		t.Errorf("auth_http was asked about a broken connection")
	}
	r.p.mustBeAlive(t)
}

// TestPPTimeout: `timeout` covers waiting for the header; the close is
// silent.
func TestPPTimeout(t *testing.T) {
	t.Parallel()
	r := newPPRig(t, "proxy_protocol", "timeout 1s;", false)
	for _, h := range []string{"", "PROXY TCP4 192.0.2.1 198.51.100.2 4567"} {
		c := dial(t, r.port)
		if h != "" {
			c.send(h)
		}
		c.expectEOF()
	}
	if log := r.errorLog(t); !strings.Contains(log, "timed out") {
		t.Errorf("no time-out in the error_log:\n%s", log)
	}
}

// ppFront stands in front of the fake backend: it reads the PROXY header
// mailproxy must send first, records it, and only then connects to the
// backend and relays, so the backend's greeting cannot be read before the
// header was sent.
type ppFront struct {
	port    int
	ln      net.Listener
	mu      sync.Mutex
	headers [][]byte
	errs    []string
}

func ppStartFront(t testing.TB, bePort int) *ppFront {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &ppFront{port: ln.Addr().(*net.TCPAddr).Port, ln: ln}
	var wg sync.WaitGroup
	var conns sync.Map
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conns.Delete(c)
				f.serve(c, bePort, &conns)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	return f
}

func (f *ppFront) fail(format string, a ...any) {
	f.mu.Lock()
	f.errs = append(f.errs, fmt.Sprintf(format, a...))
	f.mu.Unlock()
}

func (f *ppFront) serve(c net.Conn, bePort int, conns *sync.Map) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(ioWait))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	if err != nil {
		f.fail("no header: %v", err)
		return
	}
	var hdr []byte
	if first[0] == 'P' {
		line, err := br.ReadSlice('\n')
		if err != nil {
			f.fail("v1 header: %v", err)
			return
		}
		hdr = append([]byte(nil), line...)
	} else {
		fixed := make([]byte, 16)
		if _, err := io.ReadFull(br, fixed); err != nil {
			f.fail("v2 header: %v", err)
			return
		}
		rest := make([]byte, binary.BigEndian.Uint16(fixed[14:]))
		if _, err := io.ReadFull(br, rest); err != nil {
			f.fail("v2 header body: %v", err)
			return
		}
		hdr = append(fixed, rest...)
	}
	_ = c.SetReadDeadline(time.Time{})
	f.mu.Lock()
	f.headers = append(f.headers, hdr)
	f.mu.Unlock()
	be, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", bePort))
	if err != nil {
		f.fail("dial backend: %v", err)
		return
	}
	conns.Store(be, true)
	defer conns.Delete(be)
	defer be.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(c, be)
		c.Close()
		close(done)
	}()
	_, _ = io.Copy(be, br)
	be.Close()
	<-done
}

// header returns the only header the front received.
func (f *ppFront) header(t testing.TB) []byte {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) > 0 {
		t.Fatalf("front: %v", f.errs)
	}
	if len(f.headers) != 1 {
		t.Fatalf("front got %d headers, want 1", len(f.headers))
	}
	h := f.headers[0]
	f.headers = nil
	return h
}

func TestPPToBackendV1(t *testing.T) {
	t.Parallel()
	// A client without PROXY: "PROXY TCP4 <client> <address it connected
	// to> <client port> <listen port>" (reference §6, verified on nginx).
	r := newPPRig(t, "", "proxy_protocol on;", true)
	c := dialIMAP(t, r.port)
	c.login("a1", "user", "pass")
	want := fmt.Sprintf("PROXY TCP4 127.0.0.1 127.0.0.1 %s %d\r\n", c.localPort(), r.port)
	if got := string(r.front.header(t)); got != want {
		t.Errorf("backend got %q, want %q", got, want)
	}
	c.send("a2 NOOP\r\n")
	c.expect("a2 OK NOOP completed")

	// Behind a trusted balancer: the client is the PROXY source; the
	// destination is still the address mailproxy was reached on.
	r = newPPRig(t, "proxy_protocol", "proxy_protocol on;\nset_real_ip_from 127.0.0.1;", true)
	c = dial(t, r.port)
	c.send("PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\n")
	c.expect("* OK IMAP4 ready")
	c.login("a1", "user", "pass")
	want = fmt.Sprintf("PROXY TCP4 192.0.2.1 127.0.0.1 4567 %d\r\n", r.port)
	if got := string(r.front.header(t)); got != want {
		t.Errorf("backend got %q, want %q", got, want)
	}
}

func TestPPToBackendV2(t *testing.T) {
	t.Parallel()
	r := newPPRig(t, "proxy_protocol", "proxy_protocol v2;\nset_real_ip_from 127.0.0.1;", true)
	c := dial(t, r.port)
	c.send("PROXY TCP6 2001:db8::7 2001:db8::1 40000 993\r\n")
	c.expect("* OK IMAP4 ready")
	c.login("a1", "user", "pass")
	// Client IPv6 from the PROXY header, local address IPv4: one family
	// per header, so the local side goes as IPv4-mapped IPv6.
	want := ppV2(1, netip.MustParseAddrPort("[2001:db8::7]:40000"),
		netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), uint16(r.port)))
	if got := r.front.header(t); string(got) != string(want) {
		t.Errorf("backend got %x\nwant %x", got, want)
	}

	c = dial(t, r.port)
	c.send("PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\n")
	c.expect("* OK IMAP4 ready")
	c.login("a1", "user", "pass")
	want = ppV2(1, netip.MustParseAddrPort("192.0.2.1:4567"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(r.port)))
	if got := r.front.header(t); string(got) != string(want) {
		t.Errorf("backend got %x\nwant %x", got, want)
	}
	c.send("a2 LOGOUT\r\n")
	c.expect("* BYE fake backend logging out", "a2 OK LOGOUT completed")
	c.expectEOF()
}

// TestPPUnixListener: `set_real_ip_from unix:` trusts every unix-socket
// peer (reference §6); a TCP peer is not trusted by it.
func TestPPUnixListener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	port := freePort(t)
	sock := dir + "/imap.sock"
	conf := ppConf(dir, auth.Addr, port, "proxy_protocol", "set_real_ip_from unix:;")
	conf = strings.Replace(conf, "        protocol imap;", "        listen unix:"+sock+" proxy_protocol;\n        protocol imap;", 1)
	startProxy(t, conf) // waits for the TCP listener; both are bound before serving

	nc, err := net.DialTimeout("unix", sock, ioWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, c: nc, r: bufio.NewReader(nc)}
	c.send("PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\n")
	c.expect("* OK IMAP4 ready")
	c.login("a1", "user", "pass")
	reqs := auth.take()
	if len(reqs) != 1 {
		t.Fatalf("%d auth requests", len(reqs))
	}
	checkAuthReq(t, reqs[0], ppAuthLines("192.0.2.1", "192.0.2.1", "4567", "198.51.100.2", "143")...)

	c = dial(t, port)
	c.send("PROXY TCP4 192.0.2.1 198.51.100.2 4567 143\r\n")
	c.expect("* OK IMAP4 ready")
	c.login("a1", "user", "pass")
	reqs = auth.take()
	if len(reqs) != 1 {
		t.Fatalf("%d auth requests", len(reqs))
	}
	checkAuthReq(t, reqs[0], ppAuthLines("127.0.0.1", "192.0.2.1", "4567", "198.51.100.2", "143")...)
}

package e2e

import (
	"bufio"
	"encoding/binary"
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

// Harness: PROXY protocol rigs (mailproxy behind a PROXY header, and a fake
// front proxy that prepends one), and header builders.

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

// ppSMTPRig is the SMTP rig with a proxy_protocol listener.
func ppSMTPRig(t testing.TB, extra string) *smtpRig {
	t.Helper()
	r := &smtpRig{}
	r.be = startSMTPBackend(t)
	r.auth = startAuth(t, pop3Auth(r.be.Port))
	r.port = freePort(t)
	conf := pop3ServerConf(t, "smtp", r.auth.Addr, r.port, extra)
	conf = strings.Replace(conf, "listen 127.0.0.1:"+strconv.Itoa(r.port)+";",
		"listen 127.0.0.1:"+strconv.Itoa(r.port)+" proxy_protocol;", 1)
	r.p = startProxy(t, conf)
	return r
}

// ppPrefixConn writes pre in front of the first Write, so a PROXY header
// and a TLS ClientHello leave in one segment, as balancers often send them.
type ppPrefixConn struct {
	net.Conn
	pre []byte
}

func (p *ppPrefixConn) Write(b []byte) (int, error) {
	if p.pre == nil {
		return p.Conn.Write(b)
	}
	buf := append(p.pre, b...)
	p.pre = nil
	if _, err := p.Conn.Write(buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

package loop

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/codec"
	"mailproxy/config"
	"mailproxy/loop/gnetx"
	"mailproxy/loop/stats"
)

// The transcript harness drives one session's state machines without the
// binary, an event loop or a socket: the client and the backend are
// fakeConns, the gnet callbacks are the real handler's, the worker pool
// is a stand-in that keeps the auth tasks it is given, and the auth
// server's answer is handed to the session as the loop would get it.

// fakeConn is one side of a session: what the peer sent waits in in,
// what the session wrote collects in out. Methods the state machines do
// not use are left to the nil embedded interface.
type fakeConn struct {
	gnet.Conn
	ctx    any
	in     []byte
	out    []byte
	closed bool
}

func (c *fakeConn) Peek(n int) ([]byte, error) {
	if n <= 0 || n > len(c.in) {
		return c.in, nil
	}
	return c.in[:n], nil
}

func (c *fakeConn) Next(n int) ([]byte, error) {
	b, _ := c.Peek(n)
	c.in = c.in[len(b):]
	return b, nil
}

func (c *fakeConn) Discard(n int) (int, error) {
	if n < 0 || n > len(c.in) {
		n = len(c.in)
	}
	c.in = c.in[n:]
	return n, nil
}

func (c *fakeConn) Write(b []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	c.out = append(c.out, b...)
	return len(b), nil
}

func (c *fakeConn) InboundBuffered() int      { return len(c.in) }
func (c *fakeConn) OutboundBuffered() int     { return 0 }
func (c *fakeConn) Close() error              { c.closed = true; return nil }
func (c *fakeConn) Context() any              { return c.ctx }
func (c *fakeConn) SetContext(v any)          { c.ctx = v }
func (c *fakeConn) Fd() int                   { return -1 }
func (c *fakeConn) EventLoop() gnet.EventLoop { return nil }
func (c *fakeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}
}
func (c *fakeConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 143} }

// taskKeeper is the worker pool of a transcript: it keeps tasks, never
// runs them (the auth answer comes from the test).
type taskKeeper struct{ tasks int }

func (k *taskKeeper) TrySubmit(func()) bool { k.tasks++; return true }

// transcript is one session under test.
type transcript struct {
	t    *testing.T
	h    *handler
	srv  *serverRT
	s    *session
	c    *fakeConn
	b    *fakeConn // the backend, once answer() connected one
	pool *taskKeeper
}

// testServerConfig is a plaintext server of protocol p with nginx's
// defaults, changed by mod.
func testServerConfig(p config.Protocol, mod func(c *config.Server)) *config.Server {
	c := &config.Server{Protocol: p, ServerName: "mx.test", Timeout: time.Minute, ProxyTimeout: time.Hour,
		MaxErrors: 5, IMAPClientBuffer: 4096, POP3ClientBuffer: 4096, SMTPClientBuffer: 4096, ProxyBuffer: 4096,
		IMAPAuth: config.AuthPlain, POP3Auth: config.AuthPlain, SMTPAuth: config.AuthPlain | config.AuthLogin,
		IMAPCapabilities: []string{"IMAP4", "IMAP4rev1", "UIDPLUS"}, POP3Capabilities: []string{"TOP", "USER", "UIDL"},
		SMTPCapabilities: []string{"SIZE", "ENHANCEDSTATUSCODES"}, AuthHTTPAddr: "127.0.0.1:9"}
	if mod != nil {
		mod(c)
	}
	return c
}

// newTranscript opens a session of server cfg on a fake client conn and
// returns it with the greeting read.
func newTranscript(t *testing.T, cfg *config.Server) *transcript {
	t.Helper()
	ops, err := opsFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return newTranscriptOps(t, cfg, ops)
}

func newTranscriptOps(t *testing.T, cfg *config.Server, ops *protoOps) *transcript {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := &taskKeeper{}
	rt := &runtimeState{log: log, pool: pool}
	st := stats.NewListenerStats(cfg.Protocol.String(), t.Name(), 1)
	t.Cleanup(st.Unregister)
	srv := &serverRT{rt: rt, cfg: cfg, listen: t.Name(), ops: ops, stats: st, log: log}
	tr := &transcript{t: t, h: &handler{rt: rt}, srv: srv, c: &fakeConn{ctx: srv}, pool: pool}
	ls := &loopState{epfd: -1, raw: &gnetx.Loop{}}
	tr.s = tr.open(ls)
	return tr
}

// open runs the handler's openClient as gnet's OnOpen would, on a loop
// of the test's own.
func (tr *transcript) open(ls *loopState) *session {
	tr.t.Helper()
	tr.h.rt.loops.Store(nil, ls) // loopOf finds it by the conn's (nil) EventLoop
	out, action := tr.h.OnOpen(tr.c)
	if action != gnet.None {
		tr.t.Fatalf("OnOpen: action %v", action)
	}
	tr.c.out = append(tr.c.out, out...)
	s, _ := tr.c.ctx.(*session)
	if s == nil {
		tr.t.Fatal("OnOpen set no session")
	}
	return s
}

// take returns and forgets what the client was sent.
func (tr *transcript) take() string {
	out := string(tr.c.out)
	tr.c.out = nil
	return out
}

// send delivers client bytes as gnet's OnTraffic would and returns what
// the client was sent, with "[closed]" when the session closed the client
// connection and "[auth METHOD LOGIN PASS]" when an auth_http request was
// handed to the pool.
func (tr *transcript) send(in string) string {
	tr.t.Helper()
	tasks := tr.pool.tasks
	tr.c.in = append(tr.c.in, in...)
	if tr.h.OnTraffic(tr.c) == gnet.Close {
		tr.c.closed = true
	}
	out := tr.take()
	if tr.pool.tasks > tasks {
		out += "[auth " + tr.s.method + " " + string(tr.s.login) + " " + string(tr.s.pass) + "]"
	}
	if tr.c.closed {
		out += "[closed]"
	}
	return out
}

// answer hands the session auth_http's answer (the header block, as the
// auth server sent it) as the loop would get it. An OK answer connects a
// fake backend, which the test then drives with backend().
func (tr *transcript) answer(headers string) string {
	tr.t.Helper()
	var r codec.AuthResponse
	if err := codec.ParseAuthResponse([]byte("HTTP/1.0 200 OK\r\n"+headers+"\r\n"), &r); err != nil {
		tr.t.Fatalf("answer %q: %v", headers, err)
	}
	o := &authOutcome{req: &codec.AuthRequest{User: append([]byte(nil), tr.s.login...), Pass: append([]byte(nil), tr.s.pass...)}, resp: r}
	if authResultOf(o) == "ok" {
		b, msg := tr.s.backendFor(&r, o.req, tr.srv.cfg.AuthHTTPAddr)
		if msg != "" {
			tr.s.authDone(o) // logs and closes as the loop would
		} else {
			tr.s.wait = waitNone
			tr.b = &fakeConn{ctx: b}
			if tr.h.OnOpen(tr.b); tr.s.closed {
				tr.t.Fatal("backend OnOpen closed the session")
			}
		}
	} else {
		tr.s.authDone(o)
	}
	out := tr.take()
	if tr.c.closed {
		out += "[closed]"
	}
	return out
}

// backend delivers backend bytes and returns what the session sent the
// backend, then " | " and what it sent the client.
func (tr *transcript) backend(in string) string {
	tr.t.Helper()
	tr.b.in = append(tr.b.in, in...)
	tr.h.OnTraffic(tr.b)
	out := string(tr.b.out)
	tr.b.out = nil
	out += " | " + tr.take()
	if tr.s.phase == PhaseRelay {
		out += "[relay]"
	}
	if tr.c.closed {
		out += "[closed]"
	}
	return out
}

// script runs lines of "C: bytes" (client) and "S: bytes" (what the
// client must get back, all of it) against tr; "\n" in a line stands for
// CRLF.
func (tr *transcript) script(lines ...string) {
	tr.t.Helper()
	for i := 0; i+1 < len(lines); i += 2 {
		in := strings.TrimPrefix(lines[i], "C: ")
		want := strings.TrimPrefix(lines[i+1], "S: ")
		if got := tr.send(crlf(in)); got != crlf(want) {
			tr.t.Fatalf("after %q:\n got %q\nwant %q", in, got, crlf(want))
		}
	}
}

// crlf turns the "\n" of a transcript line into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

package loop

import (
	"io"
	"log/slog"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/config"
	"mailproxy/loop/stats"
)

// pop3BenchConn is the client side of a pre-auth benchmark: it serves the
// same input again and again and counts what is written. Methods the
// pre-auth loop does not use are left to the nil embedded interface.
type pop3BenchConn struct {
	gnet.Conn
	in  []byte
	off int
	out int
}

func (c *pop3BenchConn) Peek(int) ([]byte, error)    { return c.in[c.off:], nil }
func (c *pop3BenchConn) Discard(n int) (int, error)  { c.off += n; return n, nil }
func (c *pop3BenchConn) Write(b []byte) (int, error) { c.out += len(b); return len(b), nil }
func (c *pop3BenchConn) InboundBuffered() int        { return len(c.in) - c.off }
func (c *pop3BenchConn) Close() error                { return nil }
func (c *pop3BenchConn) OutboundBuffered() int       { return 0 } // the client reads all: never over the pre-auth bound

// pop3BenchSession is a pre-auth session of ops over conn, on a loop of
// its own, with no event loop behind it.
func pop3BenchSession(name string, cfg *config.Server, ops *protoOps, conn *pop3BenchConn) *session {
	srv := &serverRT{cfg: cfg, ops: ops, listen: name,
		stats: stats.NewListenerStats(cfg.Protocol.String(), name, 1),
		log:   slog.New(slog.NewTextHandler(io.Discard, nil))}
	return &session{srv: srv, loop: &loopState{}, client: conn, phase: PhasePreAuth, sessionAuth: &sessionAuth{}}
}

// BenchmarkPOP3PreAuth parses and answers CAPA, USER, NOOP and a refused STLS: the
// pre-auth hot path, which must not allocate.
func BenchmarkPOP3PreAuth(b *testing.B) {
	cfg := &config.Server{Protocol: config.POP3, POP3Auth: config.AuthPlain,
		POP3Capabilities: []string{"TOP", "USER", "UIDL"}, POP3ClientBuffer: 4096,
		MaxErrors: 5, Timeout: 60e9, ServerName: "mx.test"}
	ops := pop3OpsFor(cfg)
	conn := &pop3BenchConn{in: []byte("CAPA\r\nUSER someone@example.org\r\nNOOP\r\nSTLS\r\n")}
	s := pop3BenchSession("bench-pop3", cfg, ops, conn)
	ops.greeting(s)
	b.ReportAllocs()
	b.SetBytes(int64(len(conn.in)))
	for b.Loop() {
		conn.off = 0
		s.pop3.step = pop3Start
		ops.clientData(s)
	}
	if conn.out == 0 || s.closed {
		b.Fatal("no replies written, or the session closed")
	}
}

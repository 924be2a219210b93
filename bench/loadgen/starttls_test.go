package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mailproxy/bench/mockbackend"
)

// upgradeScript is a server's plaintext side of STARTTLS: its greeting, then
// for each command it expects, the reply. With handshake false the server
// closes after the last reply (a refusal).
type upgradeScript struct {
	greeting  string
	steps     [][2]string // {command line, reply}
	handshake bool
}

var upgradeOK = map[string]upgradeScript{
	// The untagged CAPABILITY before the tagged OK must be skipped.
	"imap": {"* OK [CAPABILITY IMAP4rev1 STARTTLS] mx.test ready\r\n",
		[][2]string{{"s0 STARTTLS\r\n", "* CAPABILITY IMAP4rev1 STARTTLS\r\ns0 OK Begin TLS negotiation now\r\n"}}, true},
	"pop3": {"+OK mx.test ready\r\n", [][2]string{{"STLS\r\n", "+OK Begin TLS negotiation\r\n"}}, true},
	"smtp": {"220 mx.test ESMTP\r\n", [][2]string{
		{"EHLO mailbench.test\r\n", "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n"},
		{"STARTTLS\r\n", "220 2.0.0 Ready to start TLS\r\n"}}, true},
}

// upgradeSeen is what the server saw of one connection.
type upgradeSeen struct {
	plain     string // every byte the client sent before the handshake
	handshake bool   // the server's ConnectionState().HandshakeComplete
	resumed   bool   // DidResume: the client reused a session
	overTLS   []byte // every byte the client sent after the handshake
}

// starttlsFront speaks script in plaintext, runs the server handshake and
// hands the TLS connection to whoever calls Accept (the mock backend) with
// the backend's greeting dropped: the client had its greeting already.
type starttlsFront struct {
	raw    net.Listener
	script upgradeScript
	cfg    *tls.Config
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once

	mu   sync.Mutex
	seen []*upgradeSeen
}

func startSTARTTLSFront(t *testing.T, script upgradeScript, cfg *tls.Config) *starttlsFront {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &starttlsFront{raw: ln, script: script, cfg: cfg, conns: make(chan net.Conn), done: make(chan struct{})}
	t.Cleanup(func() { f.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.upgrade(c)
		}
	}()
	return f
}

// upgrade runs the plaintext script on c. Commands are read a byte at a
// time: anything the client sent before the handshake beyond the script
// would end up in the handshake and break it.
func (f *starttlsFront) upgrade(c net.Conn) {
	seen := &upgradeSeen{}
	f.mu.Lock()
	f.seen = append(f.seen, seen)
	f.mu.Unlock()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(f.script.greeting)); err != nil {
		c.Close()
		return
	}
	for _, st := range f.script.steps {
		line, err := readLineUnbuffered(c)
		f.mu.Lock()
		seen.plain += string(line)
		f.mu.Unlock()
		if err != nil || string(line) != st[0] {
			c.Close()
			return
		}
		if _, err := c.Write([]byte(st[1])); err != nil {
			c.Close()
			return
		}
	}
	if !f.script.handshake {
		c.Close()
		return
	}
	tc := tls.Server(c, f.cfg)
	if err := tc.Handshake(); err != nil {
		c.Close()
		return
	}
	cs := tc.ConnectionState()
	f.mu.Lock()
	seen.handshake, seen.resumed = cs.HandshakeComplete, cs.DidResume
	f.mu.Unlock()
	c.SetDeadline(time.Time{})
	select {
	case f.conns <- &frontConn{Conn: tc, front: f, seen: seen, dropping: true}:
	case <-f.done:
		c.Close()
	}
}

func readLineUnbuffered(c net.Conn) ([]byte, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < 512 {
		if _, err := c.Read(b); err != nil {
			return line, err
		}
		line = append(line, b[0])
		if b[0] == '\n' {
			return line, nil
		}
	}
	return line, errors.New("line too long")
}

func (f *starttlsFront) Accept() (net.Conn, error) {
	select {
	case c := <-f.conns:
		return c, nil
	case <-f.done:
		return nil, net.ErrClosed
	}
}

func (f *starttlsFront) Close() error {
	f.once.Do(func() { close(f.done); f.raw.Close() })
	return nil
}

func (f *starttlsFront) Addr() net.Addr { return f.raw.Addr() }

// sessions returns a copy of what the server saw, one entry a connection.
func (f *starttlsFront) sessions() []upgradeSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]upgradeSeen, len(f.seen))
	for i, s := range f.seen {
		out[i] = *s
		out[i].overTLS = bytes.Clone(s.overTLS)
	}
	return out
}

// frontConn is the TLS side handed to the backend. Only the backend's
// serving goroutine calls Read and Write.
type frontConn struct {
	net.Conn
	front    *starttlsFront
	seen     *upgradeSeen
	dropping bool // the backend's greeting line is not yet fully dropped
}

func (c *frontConn) Write(b []byte) (int, error) {
	if !c.dropping {
		return c.Conn.Write(b)
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return len(b), nil
	}
	c.dropping = false
	n, err := c.Conn.Write(b[i+1:])
	return i + 1 + n, err
}

func (c *frontConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.front.mu.Lock()
	if len(c.seen.overTLS) < 64<<10 {
		c.seen.overTLS = append(c.seen.overTLS, b[:n]...)
	}
	c.front.mu.Unlock()
	return n, err
}

// serveFrontWith runs a mock backend on the front's upgraded connections.
func serveFrontWith(t *testing.T, proto string, f *starttlsFront) {
	t.Helper()
	s := mockbackend.New(mockbackend.Config{Size: 10000})
	t.Cleanup(func() { s.Close() })
	serve := map[string]func(net.Listener) error{"imap": s.ServeIMAP, "pop3": s.ServePOP3, "smtp": s.ServeSMTP}[proto]
	go serve(f)
}

func TestLoginOverSTARTTLSEveryProtocol(t *testing.T) {
	cfg := testTLSConfig(t)
	// What the client must send in plaintext (nothing but the upgrade) and
	// over TLS (the whole login dialogue; SMTP: EHLO once more, RFC 3207
	// §4.2, and only once).
	want := map[string][2]string{
		"imap": {"s0 STARTTLS\r\n", "a1 LOGIN u \"p w\"\r\na2 NOOP\r\na3 LOGOUT\r\n"},
		"pop3": {"STLS\r\n", "USER u\r\nPASS p w\r\nSTAT\r\nQUIT\r\n"},
		"smtp": {"EHLO mailbench.test\r\nSTARTTLS\r\n",
			"EHLO mailbench.test\r\nAUTH PLAIN " + saslPlain("u", "p w") + "\r\nNOOP\r\nQUIT\r\n"},
	}
	for _, proto := range []string{"imap", "pop3", "smtp"} {
		f := startSTARTTLSFront(t, upgradeOK[proto], cfg)
		serveFrontWith(t, proto, f)
		r, err := RunLogin(context.Background(), Options{Proto: proto, Addr: f.Addr().String(), StartTLS: true,
			User: "u", Pass: "p w", Conc: 3, Count: 12, Duration: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if r.OK != 12 || r.Failed != 0 || !r.StartTLS || r.TLS {
			t.Fatalf("%s: %+v errors %v", proto, r, r.Errors)
		}
		seen := f.sessions()
		if len(seen) != 12 {
			t.Fatalf("%s: server saw %d connections, want 12", proto, len(seen))
		}
		for i, s := range seen {
			if s.plain != want[proto][0] || !s.handshake || s.resumed || string(s.overTLS) != want[proto][1] {
				t.Fatalf("%s conn %d: plaintext %q, handshake %v, resumed %v, over TLS %q", proto, i, s.plain,
					s.handshake, s.resumed, s.overTLS)
			}
		}
		var out bytes.Buffer
		r.WriteTable(&out)
		if !strings.Contains(out.String(), "login "+proto+"+starttls → ") {
			t.Errorf("table:\n%s", out.String())
		}
	}
}

func TestRelayAndIdleOverSTARTTLS(t *testing.T) {
	f := startSTARTTLSFront(t, upgradeOK["imap"], testTLSConfig(t))
	serveFrontWith(t, "imap", f)
	// Failed relay sessions do not count towards Count: a broken upgrade
	// would retry until Duration, hence the short bound.
	r, err := RunRelay(context.Background(), Options{Proto: "imap", Addr: f.Addr().String(), StartTLS: true,
		User: "u", Pass: "p", Conc: 2, Count: 6, Duration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 6 || r.Failed != 0 || r.Relay.Bytes != 6*10000 {
		t.Fatalf("relay: %+v %+v errors %v", r, r.Relay, r.Errors)
	}
	r, err = RunIdle(context.Background(), Options{Proto: "imap", Addr: f.Addr().String(), StartTLS: true,
		User: "u", Pass: "p", Conc: 2, Conns: 5, Login: true, Hold: time.Millisecond, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Idle == nil || r.Idle.Opened != 5 || r.Failed != 0 {
		t.Fatalf("idle: %+v errors %v", r, r.Errors)
	}
	for i, s := range f.sessions() {
		if !s.handshake || !bytes.HasPrefix(s.overTLS, []byte("a1 LOGIN u p\r\n")) {
			t.Fatalf("conn %d: handshake %v, over TLS %q", i, s.handshake, s.overTLS)
		}
	}
}

func TestSTARTTLSRefusedIsTLSRejected(t *testing.T) {
	refused := map[string]upgradeScript{
		"imap": {"* OK mx.test ready\r\n", [][2]string{{"s0 STARTTLS\r\n", "s0 NO STARTTLS not available\r\n"}}, false},
		"pop3": {"+OK mx.test ready\r\n", [][2]string{{"STLS\r\n", "-ERR not now\r\n"}}, false},
		"smtp": {"220 mx.test ESMTP\r\n", [][2]string{
			{"EHLO mailbench.test\r\n", "250-mx.test\r\n250 STARTTLS\r\n"},
			{"STARTTLS\r\n", "454 4.7.0 TLS not available due to temporary reason\r\n"}}, false},
	}
	for _, proto := range []string{"imap", "pop3", "smtp"} {
		f := startSTARTTLSFront(t, refused[proto], nil)
		r, err := RunLogin(context.Background(), Options{Proto: proto, Addr: f.Addr().String(), StartTLS: true,
			Conc: 2, Count: 4, Duration: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if r.OK != 0 || r.Failed != 4 || r.Errors["tls:rejected"] != 4 {
			t.Fatalf("%s: ok %d failed %d errors %v", proto, r.OK, r.Failed, r.Errors)
		}
		var out bytes.Buffer
		r.WriteTable(&out)
		if !strings.Contains(out.String(), "errors:    tls:rejected=4") {
			t.Errorf("%s table:\n%s", proto, out.String())
		}
	}
}

// A reply pipelined after the go-ahead came in plaintext: it must not be
// read as if it had come over TLS.
func TestSTARTTLSBytesAfterGoAheadAreBadReply(t *testing.T) {
	f := startSTARTTLSFront(t, upgradeScript{"+OK ready\r\n",
		[][2]string{{"STLS\r\n", "+OK Begin TLS negotiation\r\n+OK logged in\r\n"}}, false}, nil)
	r, err := RunLogin(context.Background(), Options{Proto: "pop3", Addr: f.Addr().String(), StartTLS: true,
		Conc: 1, Count: 3, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 0 || r.Errors["tls:bad-reply"] != 3 {
		t.Fatalf("ok %d errors %v", r.OK, r.Errors)
	}
}

func TestTLSAndSTARTTLSAreExclusive(t *testing.T) {
	_, err := RunLogin(context.Background(), Options{Proto: "imap", Addr: "127.0.0.1:1", TLS: true, StartTLS: true,
		Conc: 1, Count: 1, Duration: time.Minute})
	if !errors.Is(err, ErrTLSAndStartTLS) {
		t.Fatalf("err %v", err)
	}
}

// TestLoginResumeResumes: with -resume the logins after the first offer
// the session and the server takes it; the report counts them. Without
// it, no connection resumes (the existing tests check s.resumed false).
func TestLoginResumeResumes(t *testing.T) {
	cfg := testTLSConfig(t)
	f := startSTARTTLSFront(t, upgradeOK["imap"], cfg)
	serveFrontWith(t, "imap", f)
	r, err := RunLogin(context.Background(), Options{Proto: "imap", Addr: f.Addr().String(), StartTLS: true, Resume: true,
		User: "u", Pass: "p w", Conc: 1, Count: 8, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 8 || r.Handshakes != 8 || r.Resumed < 6 || !r.Resume {
		t.Fatalf("ok %d, handshakes %d, resumed %d; want 8, 8 and all but the first one or two", r.OK, r.Handshakes, r.Resumed)
	}
	n := 0
	for _, s := range f.sessions() {
		if s.resumed {
			n++
		}
	}
	if uint64(n) != r.Resumed {
		t.Fatalf("the server resumed %d sessions, the report says %d", n, r.Resumed)
	}
	if _, err := RunLogin(context.Background(), Options{Proto: "imap", Addr: f.Addr().String(), Resume: true,
		User: "u", Pass: "p", Conc: 1, Count: 1}); err == nil {
		t.Fatal("-resume without TLS accepted")
	}
}

// TestReportNamesKeyExchange: the summary compares TLS rows only where both
// sides negotiated the same key exchange, so the report must say which one
// each handshake used, for logins and for held connections alike.
func TestReportNamesKeyExchange(t *testing.T) {
	cfg := testTLSConfig(t)
	cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	f := startSTARTTLSFront(t, upgradeOK["imap"], cfg)
	serveFrontWith(t, "imap", f)
	r, err := RunLogin(context.Background(), Options{Proto: "imap", Addr: f.Addr().String(), StartTLS: true,
		User: "u", Pass: "p", Conc: 2, Count: 4, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 4 || len(r.KeyExchange) != 1 || r.KeyExchange["X25519"] != 4 || r.Versions["TLS 1.3"] != 4 {
		t.Fatalf("ok %d, key exchange %v, versions %v; want 4 logins over TLS 1.3 and X25519", r.OK, r.KeyExchange,
			r.Versions)
	}
	var out bytes.Buffer
	r.WriteTable(&out)
	if !strings.Contains(out.String(), "4 handshakes, 0 resumed, TLS 1.3, key exchange X25519\n") {
		t.Errorf("table:\n%s", out.String())
	}
	r, err = RunIdle(context.Background(), Options{Proto: "imap", Addr: f.Addr().String(), StartTLS: true,
		Conc: 1, Conns: 3, Hold: time.Millisecond, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Handshakes != 3 || r.KeyExchange["X25519"] != 3 {
		t.Fatalf("idle: handshakes %d, key exchange %v; want 3 over X25519", r.Handshakes, r.KeyExchange)
	}
}

// TestResumedTLS12ReportsNoKeyExchange: nginx 1.22's default ssl_protocols
// stop at TLS 1.2, where a resumed handshake exchanges no key, while
// crypto/tls still reports the first session's curve. The report must say
// TLS 1.2 and "none", or the summary compares it with a TLS 1.3
// resumption (which does an X25519 exchange) as if they were the same.
func TestResumedTLS12ReportsNoKeyExchange(t *testing.T) {
	cfg := testTLSConfig(t)
	cfg.MaxVersion = tls.VersionTLS12
	cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	f := startSTARTTLSFront(t, upgradeOK["imap"], cfg)
	serveFrontWith(t, "imap", f)
	r, err := RunLogin(context.Background(), Options{Proto: "imap", Addr: f.Addr().String(), StartTLS: true, Resume: true,
		User: "u", Pass: "p", Conc: 1, Count: 6, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 6 || r.Resumed < 4 || r.Versions["TLS 1.2"] != 6 {
		t.Fatalf("ok %d, resumed %d, versions %v; want 6 logins over TLS 1.2, all but the first one or two resumed",
			r.OK, r.Resumed, r.Versions)
	}
	if r.KeyExchange["none"] != r.Resumed || r.KeyExchange["X25519"] != r.Handshakes-r.Resumed {
		t.Fatalf("key exchange %v with %d of %d resumed; want the resumed ones as none", r.KeyExchange, r.Resumed,
			r.Handshakes)
	}
}

package loop

import (
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"mailproxy/config"
	"mailproxy/loop/gnetx"
	"mailproxy/loop/limits"
	"mailproxy/loop/stats"
)

// edgeRig opens transcript sessions of one server that share one Limiter,
// as the sessions of a running proxy do. The fake client is 127.0.0.2.
type edgeRig struct {
	t   *testing.T
	lim *limits.Limiter
	cfg *config.Server
	ml  config.MailLimits
}

func (r *edgeRig) open() *transcript {
	r.t.Helper()
	ops, err := opsFor(r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := &taskKeeper{}
	rt := &runtimeState{log: log, pool: pool, limits: r.lim}
	st := stats.NewListenerStats(r.cfg.Protocol.String(), r.t.Name(), 1)
	r.t.Cleanup(st.Unregister)
	srv := &serverRT{rt: rt, cfg: r.cfg, listen: r.t.Name(), ops: ops, stats: st, log: log,
		lim: limits.NewPolicy(r.cfg, r.ml), pre: r.lim.Counter(r.t.Name())}
	tr := &transcript{t: r.t, h: &handler{rt: rt}, srv: srv, c: &fakeConn{ctx: srv}, pool: pool}
	tr.s = tr.open(&loopState{epfd: -1, raw: &gnetx.Loop{}})
	return tr
}

func newEdgeRig(t *testing.T, p config.Protocol, mod func(c *config.Server)) *edgeRig {
	return &edgeRig{t: t, lim: limits.New(1000), cfg: testServerConfig(p, mod)}
}

func TestEdgeDeniedClientGetsProtocolRefusal(t *testing.T) {
	deny := func(c *config.Server) {
		c.Access = []config.AccessRule{{Allow: false, Prefix: netip.MustParsePrefix("127.0.0.2/32")}, {Allow: true, All: true}}
	}
	f := func(p config.Protocol, want string) {
		t.Helper()
		tr := newEdgeRig(t, p, deny).open()
		if got := tr.take(); got != want || !tr.c.closed {
			t.Errorf("%v: got %q (closed %v), want %q", p, got, tr.c.closed, want)
		}
	}
	f(config.IMAP, "* BYE access denied\r\n")
	f(config.POP3, "-ERR [SYS/TEMP] access denied\r\n")
	f(config.SMTP, "421 4.7.0 access denied\r\n")
}

func TestEdgeConnCapReleasedAtClose(t *testing.T) {
	r := newEdgeRig(t, config.POP3, func(c *config.Server) { c.LimitConnPerIP = 1 })
	first := r.open()
	if got := first.take(); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("first: %q", got)
	}
	second := r.open()
	if got := second.take(); got != "-ERR [SYS/TEMP] too many connections from your address\r\n" {
		t.Fatalf("second: %q", got)
	}
	first.s.close("client closed")
	if got := r.open().take(); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("after the first closed: %q", got)
	}
}

// TestEdgeBannedLoginNeverReachesAuthHTTP: once an address used up its
// budget, its next attempt is answered with the protocol's failure line
// after the tarpit, and no auth_http request is made.
func TestEdgeBannedLoginNeverReachesAuthHTTP(t *testing.T) {
	r := newEdgeRig(t, config.IMAP, func(c *config.Server) {
		c.LimitAuthFail = config.AuthFailLimit{IP: 2, IPPeriod: time.Minute, Ban: time.Minute, Tarpit: time.Second}
	})
	for range 2 {
		tr := r.open()
		tr.take()
		if got := tr.send("a1 LOGIN user wrong\r\n"); got != "[auth plain user wrong]" {
			t.Fatalf("attempt: %q", got)
		}
		if got := tr.answer("Auth-Status: Invalid login or password\r\n"); got != "a1 NO Invalid login or password\r\n[closed]" {
			t.Fatalf("failure: %q", got)
		}
	}
	tr := r.open()
	tr.take()
	if got := tr.send("a1 LOGIN user right\r\n"); got != "" {
		t.Fatalf("banned attempt: %q (an auth request, or an answer before the tarpit)", got)
	}
	if tr.s.wait != waitAuthFail || tr.s.deadline <= time.Now().UnixNano() {
		t.Fatalf("not tarpitted: wait %v", tr.s.wait)
	}
	tr.s.onTimer() // the tarpit delay passed
	if got := tr.take(); got != "a1 NO authentication failed\r\n" {
		t.Fatalf("after the tarpit: %q", got)
	}
	if tr.pool.tasks != 0 {
		t.Fatalf("%d auth_http requests from a banned address", tr.pool.tasks)
	}
}

// TestEdgePreauthCountLeftAtAuth: a session that starts to log in no
// longer holds a pre-auth slot.
func TestEdgePreauthCountLeftAtAuth(t *testing.T) {
	r := newEdgeRig(t, config.IMAP, func(c *config.Server) { c.LimitPreauth = 1 })
	a := r.open()
	a.take()
	if got := r.open().take(); got != "* BYE too many connections waiting to log in, try again later\r\n" {
		t.Fatalf("over the cap: %q", got)
	}
	a.send("a1 LOGIN u p\r\n")
	b := r.open()
	if got := b.take(); got != "* OK IMAP4 ready\r\n" {
		t.Fatalf("after the first entered auth: %q", got)
	}
	b.s.close("client closed")
	a.s.close("client closed")
	if n := r.lim.Counter(t.Name()).Load(); n != 0 {
		t.Fatalf("pre-auth count %d after every session closed", n)
	}
}

// TestEdgeBannedReplyPerProtocol: a banned attempt gets each protocol's
// own failure line.
func TestEdgeBannedReplyPerProtocol(t *testing.T) {
	ban := func(c *config.Server) {
		c.LimitAuthFail = config.AuthFailLimit{IP: 1, IPPeriod: time.Minute, Ban: time.Minute}
	}
	f := func(p config.Protocol, login []string, fail, want string) {
		t.Helper()
		r := newEdgeRig(t, p, ban)
		for _, banned := range []bool{false, true} {
			tr := r.open()
			tr.take()
			var got string
			for _, l := range login {
				got = tr.send(l)
			}
			if !banned {
				tr.answer(fail)
				continue
			}
			if got != "" || tr.pool.tasks != 0 {
				t.Fatalf("%v: banned attempt got %q, %d auth requests", p, got, tr.pool.tasks)
			}
			tr.s.onTimer()
			if got := tr.take(); got != want {
				t.Errorf("%v: got %q, want %q", p, got, want)
			}
		}
	}
	f(config.POP3, []string{"USER u\r\n", "PASS p\r\n"}, "Auth-Status: no\r\n", "-ERR authentication failed\r\n")
	f(config.SMTP, []string{"EHLO x\r\n", "AUTH PLAIN AHUAcA==\r\n"}, "Auth-Status: no\r\n", "535 5.7.0 authentication failed\r\n")
}

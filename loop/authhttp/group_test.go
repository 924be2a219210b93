package authhttp

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"mailproxy/codec"
)

// authRefusingAddr is a loopback address where nothing listens.
func authRefusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func authPlainRequest() *codec.AuthRequest {
	return &codec.AuthRequest{Method: "plain", User: []byte("u"), Pass: []byte("p"), Protocol: "imap", Attempt: 1, ClientIP: "127.0.0.1"}
}

func groupDo(t *testing.T, g *Group) (*Client, error) {
	t.Helper()
	var out codec.AuthResponse
	c, err := g.Do(authPlainRequest(), nil, 10*time.Second, &out)
	if err == nil && !out.OK {
		t.Fatalf("answer not OK: %+v", out)
	}
	return c, err
}

// A server that refuses connections costs no failed login while another
// is up: the request moves on, and the refusing one is left out after.
func TestGroupFailoverRefused(t *testing.T) {
	s := authStartServer(t, "tcp", "127.0.0.1:0", authOK)
	dead := NewClient(authRefusingAddr(t), "dead", "/", 4)
	live := NewClient(s.addr(), "live", "/", 4)
	var downs atomic.Int32
	g := NewGroup([]*Client{dead, live}, func(c *Client, err error) {
		if c != dead || !errors.Is(err, ErrConnect) {
			t.Errorf("marked down %s: %v", c.Addr(), err)
		}
		downs.Add(1)
	})
	defer g.Close()
	for i := range 6 {
		if c, err := groupDo(t, g); err != nil || c != live {
			t.Fatalf("login %d: %v (from %v)", i, err, c)
		}
	}
	if dead.Up() || !live.Up() {
		t.Fatalf("up: dead %v live %v", dead.Up(), live.Up())
	}
	if dead.Requests() != 1 || dead.Errors() != 1 || downs.Load() != 1 {
		t.Fatalf("dead server asked %d times, %d errors, %d downs; want once while down", dead.Requests(), dead.Errors(), downs.Load())
	}
	if live.Requests() != 6 || live.Errors() != 0 || int(s.n.Load()) != 6 {
		t.Fatalf("live server: %d requests, %d errors, saw %d", live.Requests(), live.Errors(), s.n.Load())
	}
}

// Closed without a byte of answer, or no answer within its share of the
// timeout: the next server answers the same login.
func TestGroupFailoverSilent(t *testing.T) {
	f := func(name, reply string) {
		t.Run(name, func(t *testing.T) {
			bad := authStartServer(t, "tcp", "127.0.0.1:0", func(int) (string, bool) { return reply, false })
			good := authStartServer(t, "tcp", "127.0.0.1:0", authOK)
			b, ok := NewClient(bad.addr(), "bad", "/", 4), NewClient(good.addr(), "good", "/", 4)
			g := NewGroup([]*Client{b, ok}, nil)
			defer g.Close()
			var out codec.AuthResponse
			for i := range 3 {
				c, err := g.Do(authPlainRequest(), nil, 2*time.Second, &out)
				if err != nil || c != ok || !out.OK {
					t.Fatalf("login %d: %v from %v (%+v)", i, err, c, out)
				}
			}
			if b.Up() || bad.n.Load() != 1 || good.n.Load() != 3 {
				t.Fatalf("bad up %v, saw %d; good saw %d", b.Up(), bad.n.Load(), good.n.Load())
			}
		})
	}
	f("closed", authCloseNow)
	f("hangs", "")
}

// An answer, even a broken one, is the server's: no second server is
// asked and the server stays in service.
func TestGroupBrokenAnswerIsFinal(t *testing.T) {
	bad := authStartServer(t, "tcp", "127.0.0.1:0", func(int) (string, bool) { return "HTTP/1.1 200 OK\r\nAuth Status: OK\r\n\r\n", true })
	good := authStartServer(t, "tcp", "127.0.0.1:0", authOK)
	b, ok := NewClient(bad.addr(), "bad", "/", 4), NewClient(good.addr(), "good", "/", 4)
	g := NewGroup([]*Client{ok, b}, nil) // the first call starts at index 1
	defer g.Close()
	c, err := groupDo(t, g)
	if err == nil || c != b || errors.Is(err, errSilent) {
		t.Fatalf("got %v from %v, want the bad server's error", err, c)
	}
	if !b.Up() || b.Errors() != 1 || good.n.Load() != 0 {
		t.Fatalf("bad up %v errors %d; good saw %d", b.Up(), b.Errors(), good.n.Load())
	}
}

// All down: the first call tries each and fails with the last error;
// while they are down, calls fail at once with ErrAllDown; after the down
// period one call probes, and a probe answered puts the server back.
func TestGroupAllDownAndProbe(t *testing.T) {
	var answering atomic.Bool
	s := authStartServer(t, "tcp", "127.0.0.1:0", func(int) (string, bool) {
		if answering.Load() {
			return authOKResponse, false
		}
		return authCloseNow, false
	})
	a, b := NewClient(s.addr(), "a", "/a", 4), NewClient(authRefusingAddr(t), "b", "/", 4)
	g := NewGroup([]*Client{a, b}, nil)
	g.down = time.Hour
	defer g.Close()
	if _, err := groupDo(t, g); !errors.Is(err, errSilent) {
		t.Fatalf("first call: %v", err)
	}
	if a.Up() || b.Up() {
		t.Fatal("servers still up")
	}
	if _, err := groupDo(t, g); !errors.Is(err, ErrAllDown) || err.Error() != "all auth http servers are down" {
		t.Fatalf("all down: %v", err)
	}
	answering.Store(true)
	a.h.downUntil.Store(1) // the down period is over
	if c, err := groupDo(t, g); err != nil || c != a || !a.Up() || b.Up() {
		t.Fatalf("probe: %v from %v, a up %v", err, c, a.Up())
	}
}

// One URL is nginx's config: the server is never left out, every login
// asks it.
func TestGroupSingleNeverDown(t *testing.T) {
	c := NewClient(authRefusingAddr(t), "x", "/", 4)
	g := NewGroup([]*Client{c}, func(*Client, error) { t.Error("marked down") })
	for range 2 {
		if _, err := groupDo(t, g); !errors.Is(err, ErrConnect) {
			t.Fatalf("got %v", err)
		}
	}
	if !c.Up() || c.Requests() != 2 || c.Errors() != 2 {
		t.Fatalf("up %v requests %d errors %d", c.Up(), c.Requests(), c.Errors())
	}
}

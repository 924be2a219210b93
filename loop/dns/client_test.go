package dns

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// testServer answers every PTR question on 127.0.0.1 over UDP (with
// TC set when tc) and over TCP on the same port; it counts the queries.
type testServer struct {
	addr    string
	udp     atomic.Int32
	tcp     atomic.Int32
	tc      bool
	wrongID bool // first send an answer with another ID, which must be ignored
}

func startTestServer(t *testing.T, srv *testServer) {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for range 10 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if p, err := net.ListenPacket("udp", l.Addr().String()); err == nil {
			ln, pc = l, p
			break
		}
		l.Close()
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	srv.addr = pc.LocalAddr().String()
	t.Cleanup(func() { pc.Close(); ln.Close() })
	answer := func(q []byte, tc bool) []byte {
		id := binary.BigEndian.Uint16(q)
		var flags byte
		if tc {
			flags = 0x02
		}
		return testMsg(id, "2.0.0.127.in-addr.arpa", TypePTR, flags, 0,
			[]testRR{{TypePTR, 60, testName("ok.test")}})
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			srv.udp.Add(1)
			if srv.wrongID {
				bad := answer(buf[:n], false)
				bad[0]++
				_, _ = pc.WriteTo(bad, from)
			}
			_, _ = pc.WriteTo(answer(buf[:n], srv.tc), from)
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srv.tcp.Add(1)
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err == nil {
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err == nil {
					a := answer(q, false)
					_, _ = c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(a))), a...))
				}
			}
			c.Close()
		}
	}()
}

// TestResolverAsk drives the stub client against a local server: UDP,
// TCP after a truncated answer, a forged ID ignored, a dead server
// skipped, and the cache.
func TestClientAsk(t *testing.T) {
	ptr := PTRName(netip.MustParseAddr("127.0.0.2"))
	// A UDP port nobody listens on: ICMP port unreachable, at once.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.LocalAddr().String()
	dead.Close()
	f := func(srv *testServer, servers []string, wantUDP, wantTCP int32) {
		t.Helper()
		startTestServer(t, srv)
		for i, s := range servers {
			if s == "srv" {
				servers[i] = srv.addr
			}
		}
		r := &Client{Servers: servers, Timeout: 10 * time.Second}
		for range 2 { // the second answer comes from the cache (TTL 60)
			res := r.Ask(ptr, TypePTR)
			if res.Code != OK || len(res.Names) != 1 || res.Names[0] != "ok.test" {
				t.Fatalf("%v: got %+v", servers, res)
			}
		}
		if u, c := srv.udp.Load(), srv.tcp.Load(); u != wantUDP || c != wantTCP {
			t.Fatalf("%v: %d UDP and %d TCP queries, want %d and %d", servers, u, c, wantUDP, wantTCP)
		}
	}
	f(&testServer{}, []string{"srv"}, 1, 0)
	f(&testServer{tc: true}, []string{"srv"}, 1, 1)
	f(&testServer{wrongID: true}, []string{"srv"}, 1, 0)
	f(&testServer{}, []string{deadAddr, "srv"}, 1, 0)
	f(&testServer{}, []string{"srv", deadAddr}, 1, 0)

	// Every server dead: a timeout result after one round, not a spin
	// until resolver_timeout (where ICMP is filtered, the 3s timeout).
	r := &Client{Servers: []string{deadAddr, deadAddr}, Timeout: 3 * time.Second}
	if res := r.Ask(ptr, TypePTR); res.Code != TimedOut {
		t.Fatalf("dead servers: got %+v", res)
	}
}

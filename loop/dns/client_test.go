package dns

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
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

// startScripted runs a UDP name server on 127.0.0.1 whose answer to
// each question is answer(name); it appends "tag name" to *log.
func startScripted(t *testing.T, tag string, mu *sync.Mutex, log *[]string, answer func(name string) (byte, []testRR)) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			name, end, err := readName(q, 12)
			if err != nil || end+4 > n {
				continue
			}
			mu.Lock()
			*log = append(*log, tag+" "+name)
			mu.Unlock()
			rcode, an := answer(name)
			_, _ = pc.WriteTo(testMsg(binary.BigEndian.Uint16(q), name, binary.BigEndian.Uint16(q[end:]), 0, rcode, an), from)
		}
	}()
	return pc.LocalAddr().String()
}

// logged is the scripted servers' log so far, read under their lock (the
// race detector cannot see that a server logs before it answers).
func logged(mu *sync.Mutex, log *[]string) string {
	mu.Lock()
	defer mu.Unlock()
	return strings.Join(*log, ",")
}

// TestClientFirstServerFirst: the first question goes to the first
// server and each next one to the server after (nginx's rotation); the
// old client started at the second.
func TestClientFirstServerFirst(t *testing.T) {
	var mu sync.Mutex
	var log []string
	nx := func(string) (byte, []testRR) { return NXDomain, nil } // no TTL: never cached
	var servers []string
	for _, tag := range []string{"a", "b", "c"} {
		servers = append(servers, startScripted(t, tag, &mu, &log, nx))
	}
	r := &Client{Servers: servers, Timeout: 5 * time.Second}
	for _, n := range []string{"q1.test", "q2.test", "q3.test", "q4.test", "q1.test"} {
		if res := r.Ask(n, TypeA); res.Code != NXDomain {
			t.Fatalf("%s: got %+v", n, res)
		}
	}
	want := "a q1.test,b q2.test,c q3.test,a q4.test,b q1.test"
	if got := logged(&mu, &log); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestClientFollowsCNAME: an answer with only a CNAME is followed, for
// PTR as for A, as a new question to the next server; the result is
// cached under the first name with the shorter TTL; a CNAME loop ends.
func TestClientFollowsCNAME(t *testing.T) {
	var mu sync.Mutex
	var log []string
	answer := func(name string) (byte, []testRR) {
		switch name {
		case "2.0.0.127.in-addr.arpa":
			return 0, []testRR{{TypeCNAME, 30, testName("2.sub.rev.test")}}
		case "2.sub.rev.test":
			return 0, []testRR{{TypePTR, 60, testName("ok.test")}}
		case "loop.test":
			return 0, []testRR{{TypeCNAME, 30, testName("loop.test")}}
		}
		return NXDomain, nil
	}
	r := &Client{Servers: []string{startScripted(t, "a", &mu, &log, answer), startScripted(t, "b", &mu, &log, answer)},
		Timeout: 5 * time.Second}
	for range 2 {
		res := r.Ask("2.0.0.127.in-addr.arpa", TypePTR)
		if res.Code != OK || len(res.Names) != 1 || res.Names[0] != "ok.test" || res.TTL != 30 {
			t.Fatalf("got %+v", res)
		}
	}
	if got, want := logged(&mu, &log), "a 2.0.0.127.in-addr.arpa,b 2.sub.rev.test"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if res := r.Ask("loop.test", TypeA); res.Code != ServFail || strings.Count(logged(&mu, &log), ",")+1 != 2+maxCNAME+1 {
		t.Fatalf("loop: got %+v after %d questions", res, strings.Count(logged(&mu, &log), ",")-1)
	}
}

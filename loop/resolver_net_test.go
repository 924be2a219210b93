package loop

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// dnsTestServer answers every PTR question on 127.0.0.1 over UDP (with
// TC set when tc) and over TCP on the same port; it counts the queries.
type dnsTestServer struct {
	addr    string
	udp     atomic.Int32
	tcp     atomic.Int32
	tc      bool
	wrongID bool // first send an answer with another ID, which must be ignored
}

func startDNSTestServer(t *testing.T, srv *dnsTestServer) {
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
		return dnsTestMsg(id, "2.0.0.127.in-addr.arpa", dnsTypePTR, flags, 0,
			[]dnsTestRR{{dnsTypePTR, 60, dnsTestName("ok.test")}})
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
func TestResolverAsk(t *testing.T) {
	ptr := dnsPTRName(netip.MustParseAddr("127.0.0.2"))
	// A UDP port nobody listens on: ICMP port unreachable, at once.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.LocalAddr().String()
	dead.Close()
	f := func(srv *dnsTestServer, servers []string, wantUDP, wantTCP int32) {
		t.Helper()
		startDNSTestServer(t, srv)
		for i, s := range servers {
			if s == "srv" {
				servers[i] = srv.addr
			}
		}
		r := &resolverRT{servers: servers, timeout: 10 * time.Second, cache: map[resolverKey]resolverEntry{}}
		for range 2 { // the second answer comes from the cache (TTL 60)
			res := r.ask(ptr, dnsTypePTR)
			if res.code != dnsOK || len(res.names) != 1 || res.names[0] != "ok.test" {
				t.Fatalf("%v: got %+v", servers, res)
			}
		}
		if u, c := srv.udp.Load(), srv.tcp.Load(); u != wantUDP || c != wantTCP {
			t.Fatalf("%v: %d UDP and %d TCP queries, want %d and %d", servers, u, c, wantUDP, wantTCP)
		}
	}
	f(&dnsTestServer{}, []string{"srv"}, 1, 0)
	f(&dnsTestServer{tc: true}, []string{"srv"}, 1, 1)
	f(&dnsTestServer{wrongID: true}, []string{"srv"}, 1, 0)
	f(&dnsTestServer{}, []string{deadAddr, "srv"}, 1, 0)
	f(&dnsTestServer{}, []string{"srv", deadAddr}, 1, 0)

	// Every server dead: a timeout result after one round, not a spin
	// until resolver_timeout (where ICMP is filtered, the 3s timeout).
	r := &resolverRT{servers: []string{deadAddr, deadAddr}, timeout: 3 * time.Second, cache: map[resolverKey]resolverEntry{}}
	if res := r.ask(ptr, dnsTypePTR); res.code != dnsTimedOut {
		t.Fatalf("dead servers: got %+v", res)
	}
}

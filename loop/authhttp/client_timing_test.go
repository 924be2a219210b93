package authhttp

import (
	"testing"
	"time"

	"mailproxy/codec"
)

// BenchmarkAuthClientDo measures one keepalive round trip to a loopback
// auth server (the server's cost included), and the client's allocations.
func BenchmarkAuthClientDo(b *testing.B) {
	s := authStartServer(b, "tcp", "127.0.0.1:0", authOK)
	c := NewClient(s.addr(), "127.0.0.1", "/auth", 4)
	defer c.Close()
	r := authTestRequest()
	var out codec.AuthResponse
	go func() { // the test server records requests; keep its channel drained
		for range s.reqs {
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Do(r, authTestExtra, 10*time.Second, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := c.ConnsOpened(); n != 1 {
		b.Errorf("ConnsOpened = %d, want 1", n)
	}
}

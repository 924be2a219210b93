package authhttp

import (
	"testing"
	"time"

	"mailproxy/codec"
	"mailproxy/config"
)

// The hit path as the event loop runs it: the key (an HMAC) and the
// look-up with its copy of the answer.
func BenchmarkCacheHit(b *testing.B) {
	c := NewCache(config.AuthCache{Size: 10000, Valid: time.Hour})
	req := cacheReq("user@example.com", "a password of some length")
	k, _ := c.Key(req)
	var ok codec.AuthResponse
	_ = codec.ParseAuthResponse([]byte("HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\n\r\n"), &ok)
	c.Put(k, req.Pass, true, &ok)
	var out codec.AuthResponse
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var out codec.AuthResponse
		for pb.Next() {
			k, _ := c.Key(req)
			if !c.Get(k, req.Pass, &out) {
				b.Fatal("miss")
			}
		}
	})
	_ = out
}

package authhttp

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"mailproxy/codec"
	"mailproxy/config"
)

func cacheReq(user, pass string) *codec.AuthRequest {
	return &codec.AuthRequest{Method: "plain", User: []byte(user), Pass: []byte(pass), Protocol: "imap", ClientIP: "192.0.2.1"}
}

func cacheAnswer(t *testing.T, raw string) *codec.AuthResponse {
	t.Helper()
	var r codec.AuthResponse
	if err := codec.ParseAuthResponse([]byte("HTTP/1.0 200 OK\r\n"+raw+"\r\n"), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// Key: every field counts, the password included, and the client address
// only with client_ip; salted methods and empty secrets are not cached.
func TestCacheKey(t *testing.T) {
	c := NewCache(config.AuthCache{Size: 10, Valid: time.Minute, Invalid: time.Minute})
	ip := NewCache(config.AuthCache{Size: 10, Valid: time.Minute, ClientIP: true})
	k := func(c *Cache, r *codec.AuthRequest) CacheKey {
		t.Helper()
		key, ok := c.Key(r)
		if !ok {
			t.Fatalf("%+v not cacheable", r)
		}
		return key
	}
	base := k(c, cacheReq("u", "p"))
	if k(c, cacheReq("u", "p")) != base {
		t.Fatal("key not stable")
	}
	for _, r := range []*codec.AuthRequest{cacheReq("u", "q"), cacheReq("v", "p"), cacheReq("up", ""), {Method: "login", User: []byte("u"), Pass: []byte("p"), Protocol: "imap"}, {Method: "plain", User: []byte("u"), Pass: []byte("p"), Protocol: "pop3"}} {
		if key, ok := c.Key(r); ok && key == base {
			t.Fatalf("%+v has the key of u/p", r)
		}
	}
	other := cacheReq("u", "p")
	other.ClientIP = "192.0.2.2"
	if k(c, other) != base {
		t.Fatal("client address in the key without client_ip")
	}
	if k(ip, other) == k(ip, cacheReq("u", "p")) {
		t.Fatal("client address not in the key with client_ip")
	}
	if k(ip, cacheReq("u", "p")) == base {
		t.Fatal("two caches share a key: the HMAC key is not per cache")
	}
	salted := cacheReq("u", "0123")
	salted.Method, salted.Salt = "cram-md5", []byte("<1@x>")
	if _, ok := c.Key(salted); ok {
		t.Fatal("a salted method is cacheable")
	}
	if _, ok := c.Key(&codec.AuthRequest{Method: "external", User: []byte("u"), Protocol: "imap"}); ok {
		t.Fatal("a request without a secret is cacheable")
	}
}

// Get returns what Put kept, in the caller's memory; an Auth-Pass equal to
// the client's password is not stored but restored from the request;
// Auth-Cache-Valid: 0 forbids, and a shorter one shortens.
func TestCachePutGet(t *testing.T) {
	// Room for both keys whatever shard the per-process HMAC key puts
	// them in (a small cache is split 16 ways: two keys in one shard of
	// size 1 made this test fail 1 run in 16).
	c := NewCache(config.AuthCache{Size: 1000, Valid: time.Hour, Invalid: time.Hour})
	req := cacheReq("u", "pw")
	key, _ := c.Key(req)
	ok := cacheAnswer(t, "Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-Pass: pw\r\n")
	if !c.Put(key, req.Pass, true, ok) {
		t.Fatal("not kept")
	}
	for i := range c.n {
		for _, e := range c.shards[i].m {
			if bytes.Contains(e.resp.Pass, []byte("pw")) || !e.clientPass {
				t.Fatalf("the client's password is held: %+v", e.resp)
			}
		}
	}
	var out codec.AuthResponse
	if !c.Get(key, req.Pass, &out) || !out.OK || out.Server != "127.0.0.1" || string(out.Pass) != "pw" {
		t.Fatalf("get: %+v", out)
	}
	out.Pass[0] = 'X' // the caller's memory
	if !c.Get(key, req.Pass, &out) || string(out.Pass) != "pw" {
		t.Fatal("the entry shares memory with an answer")
	}
	master := cacheAnswer(t, "Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-Pass: master\r\n")
	c.Put(key, req.Pass, true, master)
	if !c.Get(key, req.Pass, &out) || string(out.Pass) != "master" {
		t.Fatalf("master password: %q", out.Pass)
	}
	k2, _ := c.Key(cacheReq("v", "pw"))
	if c.Put(k2, req.Pass, false, cacheAnswer(t, "Auth-Status: Invalid login\r\nAuth-Cache-Valid: 0\r\n")) || c.Get(k2, nil, &out) {
		t.Fatal("Auth-Cache-Valid: 0 kept")
	}
	c.Put(k2, req.Pass, false, cacheAnswer(t, "Auth-Status: Invalid login\r\nAuth-Cache-Valid: x\r\n"))
	if !c.Get(k2, nil, &out) || out.OK || out.Status != "Invalid login" {
		t.Fatalf("failure: %+v", out)
	}
	c.Put(k2, req.Pass, false, cacheAnswer(t, "Auth-Status: Invalid login\r\nAuth-Cache-Valid: 1\r\n"))
	sh := c.shard(k2)
	sh.mu.Lock()
	e := sh.m[k2]
	if d := time.Until(time.Unix(0, e.expires)); d > time.Second {
		t.Errorf("Auth-Cache-Valid: 1 kept for %v", d)
	}
	e.expires = time.Now().Add(-time.Second).UnixNano()
	sh.mu.Unlock()
	if c.Get(k2, nil, &out) || c.Len() != 1 {
		t.Fatalf("expired entry returned, or not dropped (len %d)", c.Len())
	}
	none := NewCache(config.AuthCache{Size: 10, Valid: time.Hour})
	if none.Put(k2, nil, false, cacheAnswer(t, "Auth-Status: Invalid login\r\n")) {
		t.Fatal("invalid=0 kept a failure")
	}
}

// The size bounds the entries; the least recently used go first.
func TestCacheLRU(t *testing.T) {
	c := NewCache(config.AuthCache{Size: 100, Valid: time.Hour})
	ok := cacheAnswer(t, "Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\n")
	keys := make([]CacheKey, 1000)
	for i := range keys {
		keys[i], _ = c.Key(cacheReq(fmt.Sprint("user", i), "p"))
		c.Put(keys[i], nil, true, ok)
		var out codec.AuthResponse
		c.Get(keys[0], nil, &out) // keep the first one in use
	}
	if n := c.Len(); n > 100+cacheShards-1 || n < 100 {
		t.Fatalf("%d entries for size 100", n)
	}
	var out codec.AuthResponse
	if !c.Get(keys[0], nil, &out) || !c.Get(keys[999], nil, &out) || c.Get(keys[500], nil, &out) {
		t.Fatal("not least-recently-used eviction")
	}
}

// Several loops at once (run with -race).
func TestCacheConcurrent(t *testing.T) {
	c := NewCache(config.AuthCache{Size: 64, Valid: time.Hour, Invalid: time.Hour})
	ok := cacheAnswer(t, "Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\nAuth-User: x\r\n")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out codec.AuthResponse
			for i := range 2000 {
				r := cacheReq(fmt.Sprint("u", (i*7+g)%200), "p")
				k, _ := c.Key(r)
				if !c.Get(k, r.Pass, &out) {
					c.Put(k, r.Pass, true, ok)
				} else if string(out.User) != "x" {
					t.Errorf("user %q", out.User)
					return
				}
			}
		}()
	}
	wg.Wait()
}

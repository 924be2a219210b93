package authhttp

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"time"

	"mailproxy/codec"
	"mailproxy/config"
)

// Cache is the auth cache (auth_http_cache, extension): answers of the
// auth server kept for valid= (OK) or invalid= (failures), at most Size
// entries (rounded up to a multiple of the shards: at most 15 more),
// least recently used out first. It is keyed by HMAC-SHA256,
// under a key drawn at random when the Cache is made, of the protocol,
// method, login and secret (and the client address with client_ip): a
// plaintext password is never held, and the keys mean nothing outside the
// process. An OK answer whose Auth-Pass is the client's own password is
// stored without it (the hit takes the password from the client again).
// What the caller may Put is its business (loop/authcache.go: no WAIT, no
// Auth-Wait, no error); Auth-Cache-Valid shortens or forbids it here.
//
// Goroutines: safe for concurrent use by every event loop. The entries
// are split in shards by key, each with its own mutex held for a map
// look-up and a list move; the HMAC is computed outside any lock.
type Cache struct {
	hkey     [32]byte
	valid    time.Duration
	invalid  time.Duration
	clientIP bool
	macs     sync.Pool // *cacheMAC
	n        int       // shards in use: min(cacheShards, Size)
	shards   [cacheShards]cacheShard
}

const cacheShards = 16

// cacheMAC is an HMAC under the cache's key with a scratch buffer for
// the fields, so that a key costs no allocation.
type cacheMAC struct {
	h   hash.Hash
	buf []byte
}

// wipe zeroes b.
func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// CacheKey is a cache key: an HMAC-SHA256.
type CacheKey [sha256.Size]byte

type cacheShard struct {
	mu   sync.Mutex
	max  int
	m    map[CacheKey]*cacheEntry
	head cacheEntry // sentinel of the LRU ring: head.next is the newest
}

type cacheEntry struct {
	key        CacheKey
	prev, next *cacheEntry
	expires    int64 // unix nanoseconds
	resp       codec.AuthResponse
	clientPass bool // Auth-Pass was the client's password: not stored
}

// NewCache returns an empty cache for cfg (cfg.Size > 0).
func NewCache(cfg config.AuthCache) *Cache {
	c := &Cache{valid: cfg.Valid, invalid: cfg.Invalid, clientIP: cfg.ClientIP}
	if _, err := rand.Read(c.hkey[:]); err != nil {
		panic("BUG: no randomness for the auth cache key: " + err.Error())
	}
	c.macs.New = func() any { return &cacheMAC{h: hmac.New(sha256.New, c.hkey[:]), buf: make([]byte, 0, 256)} }
	c.n = min(cacheShards, cfg.Size)
	per := (cfg.Size + c.n - 1) / c.n
	for i := range c.n {
		sh := &c.shards[i]
		sh.max = per
		sh.m = make(map[CacheKey]*cacheEntry)
		sh.head.next, sh.head.prev = &sh.head, &sh.head
	}
	return c
}

// Key returns r's cache key, and false when r's answer cannot be cached
// by these fields: methods whose secret is bound to a one-time salt (APOP,
// CRAM-MD5) and requests without a secret (EXTERNAL, smtp_auth none).
func (c *Cache) Key(r *codec.AuthRequest) (CacheKey, bool) {
	var k CacheKey
	if len(r.Pass) == 0 || len(r.Salt) > 0 {
		return k, false
	}
	m := c.macs.Get().(*cacheMAC)
	h, b := m.h, m.buf[:0]
	h.Reset()
	field := func(v []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v))) //nolint:gosec // lengths are below the buffer sizes
		b = append(b, v...)
	}
	field([]byte(r.Protocol))
	field([]byte(r.Method))
	field(r.User)
	field(r.Pass)
	if c.clientIP {
		field([]byte(r.ClientIP))
	}
	h.Write(b)
	wipe(b) // the password was in it
	m.buf = b[:0]
	copy(k[:], h.Sum(m.buf[:0])) // into the scratch: k itself would escape
	c.macs.Put(m)
	return k, true
}

func (c *Cache) shard(k CacheKey) *cacheShard { return &c.shards[int(k[0])%c.n] }

// Get copies the live answer under k into out (User and Pass in out's own
// memory; Pass is pass, the client's password, when the answer carried
// it) and reports whether there was one.
func (c *Cache) Get(k CacheKey, pass []byte, out *codec.AuthResponse) bool {
	now := time.Now().UnixNano()
	sh := c.shard(k)
	sh.mu.Lock()
	e := sh.m[k]
	if e == nil {
		sh.mu.Unlock()
		return false
	}
	if now >= e.expires {
		sh.remove(e)
		sh.mu.Unlock()
		return false
	}
	sh.unlink(e)
	sh.pushFront(e)
	user, spass := out.User[:0], out.Pass[:0]
	*out = e.resp
	out.User = append(user, e.resp.User...)
	out.Pass = append(spass, e.resp.Pass...)
	clientPass := e.clientPass
	sh.mu.Unlock()
	if clientPass {
		out.Pass = append(out.Pass[:0], pass...)
	}
	return true
}

// Put keeps the answer resp to the request with key k and password pass,
// for valid= when ok, else invalid=, shortened by its Auth-Cache-Valid.
// It reports whether the answer was kept.
func (c *Cache) Put(k CacheKey, pass []byte, ok bool, resp *codec.AuthResponse) bool {
	ttl := c.invalid
	if ok {
		ttl = c.valid
	}
	if resp.HasCacheValid {
		ttl = min(ttl, time.Duration(resp.CacheValid)*time.Second)
	}
	if ttl <= 0 {
		return false
	}
	e := &cacheEntry{key: k, expires: time.Now().Add(ttl).UnixNano(), resp: *resp}
	e.resp.User = append([]byte(nil), resp.User...)
	e.resp.Pass = nil
	if resp.HasPass {
		if bytes.Equal(resp.Pass, pass) {
			e.clientPass = true
		} else {
			e.resp.Pass = append([]byte(nil), resp.Pass...) // a master password, not the client's
		}
	}
	sh := c.shard(k)
	sh.mu.Lock()
	if old := sh.m[k]; old != nil {
		sh.remove(old)
	}
	for len(sh.m) >= sh.max {
		sh.remove(sh.head.prev)
	}
	sh.m[k] = e
	sh.pushFront(e)
	sh.mu.Unlock()
	return true
}

// Len returns the number of entries (live or expired not yet dropped).
func (c *Cache) Len() int {
	n := 0
	for i := range c.n {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

func (sh *cacheShard) pushFront(e *cacheEntry) {
	e.prev, e.next = &sh.head, sh.head.next
	sh.head.next.prev = e
	sh.head.next = e
}

func (sh *cacheShard) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (sh *cacheShard) remove(e *cacheEntry) {
	sh.unlink(e)
	delete(sh.m, e.key)
}

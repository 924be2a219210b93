package limits

import (
	"sync"
	"sync/atomic"
)

// numShards splits each table; a power of two.
const numShards = 64

// entry is what the hot and trusted tables keep per key. No pointers, so a
// full table costs the garbage collector nothing to scan.
type entry struct {
	key        Key
	prev, next int32 // LRU list, -1 at the ends
	fails      uint32
	penalty    uint32 // tarpit step while banned
	winStart   int64  // unix nanos: start of the failure window
	banUntil   int64  // unix nanos; 0 = not banned
	tokens     float64
	last       int64 // unix nanos of the last token refill
}

// lruShard is one shard of an LRU table. Its mutex is held only for map
// and list work, never across a call out of the package.
type lruShard struct {
	mu         sync.Mutex
	idx        map[Key]int32
	ents       []entry
	head, tail int32 // head: most recently used
	free       int32 // free slots, linked through next
	_          [36]byte
}

// lru is a bounded table of entries, evicting the least recently used.
type lru struct {
	shards [numShards]lruShard
	max    atomic.Int64 // per shard
	n      atomic.Int64 // entries held, all shards
}

func newLRU(size int) *lru {
	t := &lru{}
	for i := range t.shards {
		t.shards[i].idx = map[Key]int32{}
		t.shards[i].head, t.shards[i].tail, t.shards[i].free = -1, -1, -1
	}
	t.setSize(size)
	return t
}

// setSize sets the bound; shards over it shrink as they are next used.
func (t *lru) setSize(size int) {
	t.max.Store(int64(max(1, size/numShards)))
}

// with runs f on the entry of k, made (zeroed, fresh reports true) if
// create and absent, under the shard's lock. f must be short. It returns
// whether an entry existed or was made.
func (t *lru) with(k Key, create bool, f func(e *entry, fresh bool)) bool {
	sh := &t.shards[k.shardOf(numShards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sh.idx[k]
	fresh := false
	if !ok {
		if !create {
			return false
		}
		i = sh.alloc(t)
		sh.ents[i] = entry{key: k, prev: -1, next: -1}
		sh.idx[k] = i
		sh.pushFront(i)
		fresh = true
	} else {
		sh.toFront(i)
	}
	f(&sh.ents[i], fresh)
	return true
}

// alloc returns a free slot, evicting from the tail while the shard is
// full (more than one after a reload made the bound smaller).
func (sh *lruShard) alloc(t *lru) int32 {
	limit := int(t.max.Load())
	for len(sh.idx) >= limit && sh.tail >= 0 {
		i := sh.tail
		sh.unlink(i)
		delete(sh.idx, sh.ents[i].key)
		t.n.Add(-1)
		sh.ents[i].next = sh.free
		sh.free = i
	}
	t.n.Add(1)
	if i := sh.free; i >= 0 {
		sh.free = sh.ents[i].next
		return i
	}
	sh.ents = append(sh.ents, entry{})
	return int32(len(sh.ents) - 1)
}

func (sh *lruShard) pushFront(i int32) {
	e := &sh.ents[i]
	e.prev, e.next = -1, sh.head
	if sh.head >= 0 {
		sh.ents[sh.head].prev = i
	}
	sh.head = i
	if sh.tail < 0 {
		sh.tail = i
	}
}

func (sh *lruShard) unlink(i int32) {
	e := &sh.ents[i]
	if e.prev >= 0 {
		sh.ents[e.prev].next = e.next
	} else {
		sh.head = e.next
	}
	if e.next >= 0 {
		sh.ents[e.next].prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (sh *lruShard) toFront(i int32) {
	if sh.head == i {
		return
	}
	sh.unlink(i)
	sh.pushFront(i)
}

// connShard counts the open connections of the addresses that hash to it.
type connShard struct {
	mu sync.Mutex
	m  map[Key]int32
	_  [48]byte
}

// conns is the concurrent-connections table: an entry per address with a
// connection open, removed when its last one closes.
type conns struct {
	shards [numShards]connShard
}

func newConns() *conns {
	c := &conns{}
	for i := range c.shards {
		c.shards[i].m = map[Key]int32{}
	}
	return c
}

// acquire counts one more connection of k unless it has limit already.
func (c *conns) acquire(k Key, limit int) bool {
	sh := &c.shards[k.shardOf(numShards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := sh.m[k]
	if int(n) >= limit {
		return false
	}
	sh.m[k] = n + 1
	return true
}

func (c *conns) release(k Key) {
	sh := &c.shards[k.shardOf(numShards)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if n := sh.m[k]; n > 1 {
		sh.m[k] = n - 1
	} else {
		delete(sh.m, k)
	}
}

package limits

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"mailproxy/loop/stats"
)

// The shared store (limit_store redis://): failure counters and bans
// shared by every mailproxy of a fleet, so that an attacker spread over N
// instances behind a balancer gets one budget, not N.
//
// The event loops never wait on Redis. The local tables decide first, as
// without a store; each failure, success and ban is then queued (a
// bounded channel: a full queue drops the job and counts it) for a few
// worker goroutines that make the Redis calls with a timeout:
//
//	failure: MULTI INCR mp:f:<kind>:<key> / EXPIRE ... NX EXEC; at the budget,
//	         SET mp:b:<kind>:<key> 1 PX <ban> NX and, if this instance set it,
//	         PUBLISH mp:bans "<kind> <key> <until unix ms>"
//	success: DEL mp:f:ip:<key>
//
// Every instance subscribes to mp:bans and merges the bans it hears into
// its own table (the ban then works locally, without Redis). Keys are the
// tables' 16-byte keys in hex: no login name reaches Redis.
//
// Redis down or slow: the calls fail within storeTimeout, the instance
// logs it once and counts every failure (mailproxy_limit_store_errors_total),
// and counts locally only, trying Redis again once a second, until it
// answers; then it logs that once. Bans set elsewhere while the
// subscription was down are not replayed.

const (
	storeTimeout  = 250 * time.Millisecond
	storeWorkers  = 4
	storeQueue    = 4096
	storeChannel  = "mp:bans"
	storeRetryGap = time.Second
)

// storeJob is one queued call.
type storeJob struct {
	kind   Ban
	key    Key
	ok     bool // a success: forget the address's failures
	n      int  // the budget
	window time.Duration
	ban    time.Duration
}

// Store is a connection to the shared store. Its methods are safe from
// any goroutine and never block.
type Store struct {
	url  string
	rdb  *redis.Client
	jobs chan storeJob
	l    *Limiter
	log  *slog.Logger

	down      atomic.Bool
	nextProbe atomic.Int64 // unix nanos: while down, jobs before this are dropped
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// OpenStore connects l to the Redis at addr (host:port), database db.
// It does not wait for Redis: an unreachable one is reported by the first
// call. url is the directive as written, for messages and for reload.
func (l *Limiter) OpenStore(url, addr string, db int, log *slog.Logger) *Store {
	s := &Store{url: url, l: l, log: log, jobs: make(chan storeJob, storeQueue)}
	s.rdb = redis.NewClient(&redis.Options{
		Addr: addr, DB: db,
		DialTimeout: storeTimeout, ReadTimeout: storeTimeout, WriteTimeout: storeTimeout,
		MaxRetries: -1, PoolSize: storeWorkers + 1, ContextTimeoutEnabled: true,
		DisableIdentity: true,
	})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range storeWorkers {
		s.wg.Add(1)
		go s.work()
	}
	s.wg.Add(1)
	go s.subscribe()
	l.store.Store(s)
	return s
}

// URL is the limit_store value this store was opened for.
func (s *Store) URL() string { return s.url }

// Close stops the workers and the subscription and closes the client.
func (s *Store) Close() {
	s.cancel()
	_ = s.rdb.Close()
	s.wg.Wait()
}

// Down reports whether the last call to Redis failed.
func (s *Store) Down() bool { return s.down.Load() }

func (s *Store) enqueue(j storeJob) {
	select {
	case s.jobs <- j:
	default:
		stats.LimitStoreError() // queue full: this one counts locally only
	}
}

func (s *Store) work() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case j := <-s.jobs:
			if s.down.Load() && time.Now().UnixNano() < s.nextProbe.Load() {
				stats.LimitStoreError()
				continue
			}
			s.result(s.do(j))
		}
	}
}

// result keeps the up/down state, logging each change once.
func (s *Store) result(err error) {
	if err == nil {
		if s.down.Swap(false) {
			s.log.Warn("limit_store " + s.url + " is back: failure counts and bans are shared again")
		}
		return
	}
	if errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
		return
	}
	stats.LimitStoreError()
	s.nextProbe.Store(time.Now().Add(storeRetryGap).UnixNano())
	if !s.down.Swap(true) {
		s.log.Error("limit_store "+s.url+" failed, counting locally until it answers", "err", err.Error())
	}
}

func storeKey(prefix string, kind Ban, k Key) string {
	return prefix + kind.String() + ":" + hex.EncodeToString(k[:])
}

func (s *Store) do(j storeJob) error {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	fk := storeKey("mp:f:", j.kind, j.key)
	if j.ok {
		return s.rdb.Del(ctx, fk).Err()
	}
	var incr *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, fk)
		p.ExpireNX(ctx, fk, max(j.window, time.Second))
		return nil
	})
	if err != nil {
		return err
	}
	if int(incr.Val()) < j.n {
		return nil
	}
	set, err := s.rdb.SetNX(ctx, storeKey("mp:b:", j.kind, j.key), "1", j.ban).Result()
	if err != nil || !set {
		return err
	}
	if err := s.rdb.Del(ctx, fk).Err(); err != nil {
		return err
	}
	until := time.Now().Add(j.ban).UnixMilli()
	msg := j.kind.String() + " " + hex.EncodeToString(j.key[:]) + " " + strconv.FormatInt(until, 10)
	return s.rdb.Publish(ctx, storeChannel, msg).Err()
}

// subscribe merges the bans other instances (and this one) publish.
func (s *Store) subscribe() {
	defer s.wg.Done()
	ps := s.rdb.Subscribe(s.ctx, storeChannel)
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-s.ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			s.merge(m.Payload)
		}
	}
}

// merge applies one published ban to the local table.
func (s *Store) merge(payload string) {
	f := strings.Fields(payload)
	if len(f) != 3 {
		return
	}
	var kind Ban
	switch f[0] {
	case "ip":
		kind = BanIP
	case "login":
		kind = BanLogin
	default:
		return
	}
	raw, err := hex.DecodeString(f[1])
	until, err2 := strconv.ParseInt(f[2], 10, 64)
	if err != nil || err2 != nil || len(raw) != len(Key{}) {
		return
	}
	k := Key(raw)
	untilNs := until * int64(time.Millisecond)
	fresh := false
	s.l.hot.with(k, true, func(e *entry, _ bool) {
		if e.banUntil < untilNs {
			fresh = e.banUntil <= time.Now().UnixNano()
			e.banUntil = untilNs
			e.fails, e.winStart = 0, 0
		}
	})
	if !fresh {
		return
	}
	if ok, n := s.l.LogBan(time.Now().UnixNano()); ok {
		kv := []any{"for", time.Until(time.UnixMilli(until)).Round(time.Second).String(), "via", "limit_store"}
		if n > 0 {
			kv = append(kv, "suppressed", n)
		}
		if kind == BanIP {
			s.log.Error("limits: address banned", append([]any{"client", k.Addr().String()}, kv...)...)
		} else {
			s.log.Error("limits: login banned", kv...)
		}
	}
}

package loop

import (
	"context"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/codec"
	"mailproxy/loop/authhttp"
	"mailproxy/loop/stats"
)

// The auth cache (auth_http_cache, extension) from the session's side;
// the cache itself is authhttp.Cache. A hit is looked up on the event
// loop before the worker hand-off, so it costs neither a worker nor a
// thread switch: the answer is applied in an Execute on the same loop
// (after the callback that parsed the command returns, since authDone may
// parse pipelined input again), as if auth_http had answered. A cached
// failure goes through authDone like any other, so failure counting and
// Auth-Wait-free failure replies are the same. What is kept: OK answers
// that name a usable backend, and failures; never WAIT, an answer with
// Auth-Wait, or an error.

// authCacheRef is an outcome's link to the cache: the key to Put the
// answer under, and whether the outcome is a hit.
type authCacheRef struct {
	c   *authhttp.Cache // nil: no cache, or the request cannot be cached
	key authhttp.CacheKey
	hit bool
}

// authCacheLookup answers req from the cache when it can. On a hit the
// answer is on its way (Execute) and it returns true; else it returns
// what the worker's outcome needs to fill the cache. Called on the loop,
// with s.wait already waitAuth.
func (s *session) authCacheLookup(req *codec.AuthRequest) (authCacheRef, bool) {
	c := s.srv.cache
	if c == nil {
		return authCacheRef{}, false
	}
	k, ok := c.Key(req)
	if !ok {
		return authCacheRef{}, false
	}
	ref := authCacheRef{c: c, key: k}
	out := &authOutcome{req: req, peer: "cache", cache: ref}
	if !c.Get(k, req.Pass, &out.resp) {
		stats.AuthCache(false)
		return ref, false
	}
	stats.AuthCache(true)
	out.cache.hit = true
	_ = s.loop.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		defer s.recoverPanic("auth_http cached answer")
		s.authDone(out)
		return nil
	}))
	return ref, true
}

// authCachePut keeps a fresh auth_http answer when the cache may hold
// it. Called on the loop by authDone with the answer's result label.
func (s *session) authCachePut(o *authOutcome, result string) {
	ref := o.cache
	if ref.c == nil || ref.hit {
		return
	}
	r := &o.resp
	switch result {
	case "ok":
		if _, err := r.Backend(); err != nil {
			return
		}
		if s.srv.ops.needsPass(o.req.Method) && !r.HasPass {
			return
		}
	case "fail":
		if r.HasWait {
			return
		}
	default:
		return // error, timeout, wait, overload
	}
	ref.c.Put(ref.key, o.req.Pass, result == "ok", r)
}

package dns

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// resend is how long one name server gets before the next is asked
	// (nginx's resolver resend_timeout).
	resend = 5 * time.Second
	// maxCNAME bounds a chain of CNAMEs followed for one question.
	maxCNAME = 8
	// CacheMax bounds the cache of one Client.
	CacheMax = 10000
)

// Client asks a fixed list of name servers, in turn, and caches answers.
// Safe for concurrent use (the workers share it); its methods block.
type Client struct {
	Servers []string      // "ip:port"
	Timeout time.Duration // for one question, all servers together
	Valid   time.Duration // cache time overriding the answers' TTLs (resolver valid=); 0: their TTLs

	next atomic.Uint32 // round robin over Servers

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry
}

type cacheKey struct {
	qtype uint16
	name  string
}

type cacheEntry struct {
	res   Result
	until time.Time
}

// Ask answers one question from the cache or the name servers, within
// Timeout. It blocks: call it from a worker, never from an event loop.
//
// As nginx's resolver, each question not answered from the cache goes to
// the next name server in turn, the first question of a Client to the
// first server (ngx_resolver's last_connection); one that is not answered
// within resend goes on to the server after it. An answer nginx ignores
// counts as none. A CNAME without records of the type asked is followed,
// for PTR too (nginx follows it only for A and AAAA).
func (r *Client) Ask(name string, qtype uint16) Result {
	return r.ask(name, qtype, time.Now().Add(r.Timeout), 0)
}

func (r *Client) ask(name string, qtype uint16, deadline time.Time, hops int) Result {
	key := cacheKey{qtype, name}
	r.mu.Lock()
	e, ok := r.cache[key]
	r.mu.Unlock()
	if ok && time.Now().Before(e.until) {
		return e.res
	}
	start := int(r.next.Add(1) - 1)
	failed := 0
	var notes []string
	for i := 0; ; i++ {
		server := r.Servers[(start+i)%len(r.Servers)]
		at := time.Now().Add(resend)
		if at.After(deadline) {
			at = deadline
		}
		res, err := Exchange(server, name, qtype, at)
		notes = append(notes, res.Notes...)
		if err == nil {
			if res.CNAME != "" {
				res = r.follow(res, qtype, deadline, hops)
				notes = append(notes, res.Notes...)
			}
			res.Notes = nil
			r.store(key, res)
			res.Notes = notes
			return res
		}
		if !time.Now().Before(deadline) {
			return Result{Code: TimedOut, Notes: notes}
		}
		// An error before this server's turn ended (ICMP unreachable,
		// no route): go on with the next, but stop after a whole round
		// of such errors rather than spin until the deadline.
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			failed = 0
		} else if failed++; failed >= len(r.Servers) {
			return Result{Code: TimedOut, Notes: notes}
		}
	}
}

// follow asks for the target of alias, a CNAME answer, within the same
// deadline, and keeps the shorter TTL.
func (r *Client) follow(alias Result, qtype uint16, deadline time.Time, hops int) Result {
	if hops >= maxCNAME {
		return Result{Code: ServFail, Notes: []string{"more than " + strconv.Itoa(maxCNAME) +
			` CNAMEs in a row, the last "` + alias.CNAME + `"`}}
	}
	res := r.ask(alias.CNAME, qtype, deadline, hops+1)
	res.TTL = min(res.TTL, alias.TTL)
	return res
}

// store caches a positive answer or NXDOMAIN for Valid or its TTL.
func (r *Client) store(key cacheKey, res Result) {
	if res.Code != OK && res.Code != NXDomain {
		return
	}
	ttl := time.Duration(res.TTL) * time.Second
	if r.Valid > 0 {
		ttl = r.Valid
	}
	if ttl <= 0 {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache == nil {
		r.cache = map[cacheKey]cacheEntry{}
	}
	if len(r.cache) >= CacheMax {
		for k, e := range r.cache {
			if !now.Before(e.until) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache {
			if len(r.cache) < CacheMax {
				break
			}
			delete(r.cache, k) // map order: an arbitrary victim
		}
	}
	r.cache[key] = cacheEntry{res: res, until: now.Add(ttl)}
}

// Exchange asks server one question and waits for its answer until
// deadline. Messages that do not answer the question are ignored, and so
// are the answers nginx ignores (their log lines go to Result.Notes, also
// when the wait ends in a timeout error).
func Exchange(server, name string, qtype uint16, deadline time.Time) (Result, error) {
	id := uint16(rand.Uint32())
	q := query(make([]byte, 0, 64+len(name)), id, name, qtype)
	c, err := net.DialTimeout("udp", server, time.Until(deadline))
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(q); err != nil {
		return Result{}, err
	}
	buf := make([]byte, maxUDP)
	var notes []string
	for {
		n, err := c.Read(buf)
		if err != nil {
			return Result{Notes: notes}, err
		}
		res, tc, err := parse(buf[:n], id, name, qtype)
		var ig *ignoredError
		if errors.As(err, &ig) {
			notes = append(notes, ig.msgs...)
			continue
		}
		if err != nil {
			continue // not ours (late or forged): keep waiting
		}
		if tc {
			res, err = exchangeTCP(server, q, id, name, qtype, deadline)
		}
		res.Notes = append(notes, res.Notes...)
		return res, err
	}
}

// exchangeTCP asks again over TCP after a truncated UDP answer.
func exchangeTCP(server string, q []byte, id uint16, name string, qtype uint16, deadline time.Time) (Result, error) {
	c, err := net.DialTimeout("tcp", server, time.Until(deadline))
	if err != nil {
		return Result{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(deadline)
	msg := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(q)), uint16(len(q)))
	if _, err := c.Write(append(msg, q...)); err != nil {
		return Result{}, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return Result{}, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return Result{}, err
	}
	res, _, err := parse(buf, id, name, qtype)
	var ig *ignoredError
	if errors.As(err, &ig) {
		return Result{Notes: ig.msgs}, err
	}
	return res, err
}

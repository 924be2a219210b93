package mailtls

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"runtime"
	"sync"
	"time"
	"weak"

	"mailproxy/config"
)

// ssl_session_cache with ssl_session_tickets off: a server-side session
// store, as nginx keeps one in OpenSSL's cache.
//
// Go's crypto/tls resumes only through what it hands the client in a
// NewSessionTicket message: the TLS 1.3 PSK identity, or the TLS 1.2
// ticket (RFC 5077). Config.WrapSession decides what those bytes are.
// Here they are a random 32-byte key into a bounded LRU map holding the
// session, and UnwrapSession looks the key up: nothing secret leaves the
// server, which is what "tickets off" asks for. What a client sees:
//
//   - TLS 1.3: as with OpenSSL's stateful tickets (what OpenSSL sends
//     with SSL_OP_NO_TICKET and a cache): a ticket that is only a key.
//     Clients resume, with or without OpenSSL's -no_ticket (which a
//     TLS 1.3 client ignores when it receives a ticket).
//   - TLS 1.2 with the session_ticket extension (every common client):
//     resumed, by a ticket holding the key, where nginx resumes by
//     session ID. Clients see "Reused" either way.
//   - TLS 1.2 without it (openssl s_client -no_ticket, some embedded
//     stacks): not resumed. Go's server never assigns a session ID in a
//     full handshake (the ServerHello's is empty) and has no hook to look
//     one up (ClientHelloInfo does not carry it), so session-ID
//     resumption cannot be built over crypto/tls.
//
// Bounds: builtin:N holds N sessions; shared:NAME:SIZE holds SIZE bytes
// of sessions and at most SIZE/256 of them (nginx: "about 4000 sessions
// per megabyte"). A session whose encoding is over 4096 bytes (a big
// client certificate chain) is not stored, as nginx does not store one
// (NGX_SSL_MAX_SESSION_SIZE). A session expires ssl_session_timeout
// after its secret was made (a TLS 1.2 resumption re-issues the same
// secret and so does not extend it; a TLS 1.3 resumption makes a new
// one, as OpenSSL's do).
//
// Sharing: builtin is one store per server{} block (all its listeners and
// all event loops); shared is one store per zone name in the process, so
// servers naming one zone share it as nginx's do. Sessions carry the
// identity of the server that made them (certificates and client
// verification, as nginx's session ID context), and a server does not
// resume another's. A reload keeps a zone whose name and size are
// unchanged, as nginx keeps shared zones; a zone whose size changed
// starts empty; builtin stores start empty, as they do in nginx's new
// workers.

const (
	sessionIDLen        = 32   // bytes of a store key, as an OpenSSL session ID
	sessionMaxBytes     = 4096 // NGX_SSL_MAX_SESSION_SIZE
	sessionZoneBytesPer = 256  // shared zone bytes per session: ~4000 per MB
	sessionEntryCost    = 160  // map, list and key overhead charged per entry
)

// sessionStore is a bounded LRU of encoded sessions. Safe for concurrent
// use: the handshake goroutines of every loop call it.
type sessionStore struct {
	maxEntries int
	maxBytes   int          // 0: bounded by maxEntries × sessionMaxBytes only
	zone       *sessionZone // a shared store keeps its zone's registry entry alive

	mu    sync.Mutex
	bytes int
	m     map[string]*list.Element
	lru   list.List // front = most recently used; values *sessionEntry
}

type sessionEntry struct {
	key     string
	owner   [32]byte // sessionOwner of the server that stored it
	state   []byte   // tls.SessionState.Bytes()
	expires time.Time
}

func newSessionStore(maxEntries, maxBytes int) *sessionStore {
	if maxEntries < 1 {
		maxEntries = 1
	}
	return &sessionStore{maxEntries: maxEntries, maxBytes: maxBytes, m: map[string]*list.Element{}}
}

func (e *sessionEntry) cost() int { return len(e.state) + len(e.key) + sessionEntryCost }

// put stores state under a new random key and returns the key. A session
// too big or already expired gets a key that is not stored, so the
// client simply does a full handshake next time.
func (st *sessionStore) put(owner [32]byte, state []byte, expires, now time.Time) []byte {
	key := make([]byte, sessionIDLen)
	rand.Read(key) // never fails (crypto/rand)
	if len(state) > sessionMaxBytes || !expires.After(now) {
		return key
	}
	e := &sessionEntry{key: string(key), owner: owner, state: state, expires: expires}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.m[e.key] = st.lru.PushFront(e)
	st.bytes += e.cost()
	for st.lru.Len() > st.maxEntries || (st.maxBytes > 0 && st.bytes > st.maxBytes) {
		st.remove(st.lru.Back())
	}
	return key
}

// get returns the session stored under key for owner, or nil. An expired
// entry is dropped.
func (st *sessionStore) get(owner [32]byte, key []byte, now time.Time) []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	el := st.m[string(key)]
	if el == nil {
		return nil
	}
	e := el.Value.(*sessionEntry)
	if !now.Before(e.expires) {
		st.remove(el)
		return nil
	}
	if e.owner != owner {
		return nil
	}
	st.lru.MoveToFront(el)
	return e.state
}

func (st *sessionStore) remove(el *list.Element) {
	e := st.lru.Remove(el).(*sessionEntry)
	delete(st.m, e.key)
	st.bytes -= e.cost()
}

// len is the number of sessions held (tests).
func (st *sessionStore) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.lru.Len()
}

// sessionCreated reads the creation time crypto/tls puts in an encoded
// session (version, type, suite, then seconds since the epoch: the
// layout of SessionState.Bytes, which TestSessionCreatedLayout pins);
// now if the layout is not the expected one.
func sessionCreated(b []byte, now time.Time) time.Time {
	if len(b) < 13 || b[2] != 1 { // 1: a server's session
		return now
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b[5:13])), 0)
}

// sessionOwner identifies the server that makes a session: its
// certificates and how it verifies clients (nginx's session ID context
// is a digest of the same things).
func sessionOwner(cfg *tls.Config, sc *config.Server) [32]byte {
	h := sha256.New()
	for _, c := range cfg.Certificates {
		for _, der := range c.Certificate {
			h.Write(der)
		}
		h.Write([]byte{0})
	}
	h.Write([]byte(sc.SSLVerifyClient + "\x00" + sc.SSLClientCertificate + "\x00" + sc.SSLTrustedCertificate))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// tlsSessionStore installs st as cfg's session store: resumption without
// tickets that carry the session.
func tlsSessionStore(cfg *tls.Config, st *sessionStore, owner [32]byte, timeout time.Duration) {
	now := func() time.Time {
		if cfg.Time != nil {
			return cfg.Time()
		}
		return time.Now()
	}
	cfg.SessionTicketsDisabled = false
	cfg.WrapSession = func(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		b, err := ss.Bytes()
		if err != nil {
			return nil, err
		}
		t := now()
		return st.put(owner, b, sessionCreated(b, t).Add(timeout), t), nil
	}
	cfg.UnwrapSession = func(key []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
		if len(key) != sessionIDLen {
			return nil, nil // an old ticket, or none: full handshake
		}
		b := st.get(owner, key, now())
		if b == nil {
			return nil, nil
		}
		ss, err := tls.ParseSessionState(b)
		if err != nil {
			return nil, nil
		}
		return ss, nil
	}
}

// The process's stores. Zones are found by name while any tls.Config
// holding them is alive (a running configuration, or the one a reload is
// replacing); builtin stores by their server{} block. Neither registry
// keeps a store or a configuration alive.
var sessionStores struct {
	mu      sync.Mutex
	zones   map[string]weak.Pointer[sessionZone]
	builtin map[weak.Pointer[config.Server]]*sessionStore
}

type sessionZone struct {
	size  int
	store *sessionStore
}

// sessionStoreFor returns the store sc's ssl_session_cache names, or nil
// for off and none. With both builtin and shared (nginx allows it, the
// builtin one a per-worker front of the zone), the zone serves alone.
func sessionStoreFor(sc *config.Server) *sessionStore {
	ss := &sessionStores
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if name := sc.SSLSessionCacheZone; name != "" {
		if ss.zones == nil {
			ss.zones = map[string]weak.Pointer[sessionZone]{}
		}
		if z := ss.zones[name].Value(); z != nil && z.size == sc.SSLSessionCacheZoneSize {
			return z.store
		}
		size := sc.SSLSessionCacheZoneSize
		z := &sessionZone{size: size, store: newSessionStore(size/sessionZoneBytesPer, size)}
		wp := weak.Make(z)
		ss.zones[name] = wp
		// z lives as long as its store (z.store.zone), which the
		// tls.Configs' closures hold: when the last configuration using
		// the zone goes, so does the registry entry.
		runtime.AddCleanup(z, func(name string) {
			ss.mu.Lock()
			if ss.zones[name] == wp {
				delete(ss.zones, name)
			}
			ss.mu.Unlock()
		}, name)
		z.store.zone = z
		return z.store
	}
	if sc.SSLSessionCacheBuiltin == 0 {
		return nil
	}
	if ss.builtin == nil {
		ss.builtin = map[weak.Pointer[config.Server]]*sessionStore{}
	}
	key := weak.Make(sc)
	if st := ss.builtin[key]; st != nil {
		return st
	}
	st := newSessionStore(sc.SSLSessionCacheBuiltin, 0)
	ss.builtin[key] = st
	runtime.AddCleanup(sc, func(k weak.Pointer[config.Server]) {
		ss.mu.Lock()
		delete(ss.builtin, k)
		ss.mu.Unlock()
	}, key)
	return st
}

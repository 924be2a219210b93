package mailtls

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"mailproxy/config"
)

// sessionTestConfig is a server config whose sessions live in st, read
// at the time *clock says.
func sessionTestConfig(t *testing.T, st *sessionStore, clock *time.Time, timeout time.Duration) *tls.Config {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{tlsTestCert(t, "mx.test")}, Time: func() time.Time { return *clock }}
	tlsSessionStore(cfg, st, sessionOwner(cfg, &config.Server{SSLVerifyClient: "off"}), timeout)
	return cfg
}

// sessionDial runs one handshake of cli against srv over a pipe and says
// whether it resumed. The server writes a line so that a TLS 1.3 client
// reads the ticket that follows the handshake.
func sessionDial(t *testing.T, srv, cli *tls.Config) bool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		a, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer a.Close()
		s := tls.Server(a, srv)
		if err := s.Handshake(); err != nil {
			done <- err
			return
		}
		_, err = s.Write([]byte("* OK\r\n"))
		done <- err
	}()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := tls.Client(b, cli)
	buf := make([]byte, 6)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("client: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	return c.ConnectionState().DidResume
}

func sessionClient(version uint16, clock *time.Time) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "mx.test", MinVersion: version, MaxVersion: version,
		ClientSessionCache: tls.NewLRUClientSessionCache(8), Time: func() time.Time { return *clock }}
}

func TestSessionStoreResumesWithoutTickets(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(VersionName(v), func(t *testing.T) {
			clock := time.Now().Truncate(time.Second) // within the test certificate's validity
			st := newSessionStore(10, 0)
			srv := sessionTestConfig(t, st, &clock, 5*time.Minute)
			cli := sessionClient(v, &clock)
			if sessionDial(t, srv, cli) {
				t.Fatal("first handshake resumed")
			}
			if st.len() != 1 {
				t.Fatalf("store holds %d sessions after one handshake, want 1", st.len())
			}
			if !sessionDial(t, srv, cli) {
				t.Fatal("second handshake did not resume")
			}
		})
	}
}

func TestSessionStoreExpiresAtTimeout(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(VersionName(v), func(t *testing.T) {
			clock := time.Now().Truncate(time.Second) // within the test certificate's validity
			st := newSessionStore(10, 0)
			srv := sessionTestConfig(t, st, &clock, 5*time.Minute)
			cli := sessionClient(v, &clock)
			sessionDial(t, srv, cli)
			clock = clock.Add(4 * time.Minute)
			if !sessionDial(t, srv, cli) {
				t.Fatal("not resumed within ssl_session_timeout")
			}
			// TLS 1.2 re-issued the same secret at 4m: it still dates from 0.
			// TLS 1.3 made a new one at 4m: 2m more is within its timeout.
			clock = clock.Add(2 * time.Minute)
			got := sessionDial(t, srv, cli)
			if want := v == tls.VersionTLS13; got != want {
				t.Fatalf("at 6m resumed=%v, want %v", got, want)
			}
			clock = clock.Add(6 * time.Minute)
			if sessionDial(t, srv, cli) {
				t.Fatal("resumed past ssl_session_timeout")
			}
		})
	}
}

// TestSessionCreatedLayout pins the part of SessionState.Bytes that
// sessionCreated reads: if a Go release moves it, this fails.
func TestSessionCreatedLayout(t *testing.T) {
	clock := time.Now().Truncate(time.Second)
	var got time.Time
	cfg := &tls.Config{Certificates: []tls.Certificate{tlsTestCert(t, "mx.test")}, Time: func() time.Time { return clock }}
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		b, _ := ss.Bytes()
		got = sessionCreated(b, time.Time{})
		return cfg.EncryptTicket(cs, ss)
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		got = time.Time{}
		sessionDial(t, cfg, sessionClient(v, &clock))
		if !got.Equal(clock) {
			t.Fatalf("%s: creation time read as %v, want %v", VersionName(v), got, clock)
		}
	}
}

func TestSessionStoreEvictsLeastRecentlyUsed(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour)
	var owner [32]byte
	st := newSessionStore(3, 0)
	k1 := st.put(owner, []byte("one"), exp, now)
	k2 := st.put(owner, []byte("two"), exp, now)
	k3 := st.put(owner, []byte("three"), exp, now)
	st.get(owner, k1, now) // k1 is now the most recent; k2 the least
	k4 := st.put(owner, []byte("four"), exp, now)
	if st.len() != 3 {
		t.Fatalf("%d sessions held, bound is 3", st.len())
	}
	if st.get(owner, k2, now) != nil {
		t.Fatal("least recently used session not evicted")
	}
	for _, k := range [][]byte{k1, k3, k4} {
		if st.get(owner, k, now) == nil {
			t.Fatalf("session %x evicted out of order", k)
		}
	}
}

func TestSessionStoreBoundedByBytes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var owner [32]byte
	size := 32 * 1024 // the smallest zone nginx allows
	st := newSessionStore(size/sessionZoneBytesPer, size)
	state := make([]byte, 1000)
	for range 1000 {
		st.put(owner, state, now.Add(time.Hour), now)
	}
	if st.bytes > size {
		t.Fatalf("store holds %d bytes, zone is %d", st.bytes, size)
	}
	if n := st.len(); n == 0 || n > size/(len(state)+sessionIDLen) {
		t.Fatalf("store holds %d sessions of %d bytes in a %d-byte zone", n, len(state), size)
	}
	// At the typical size the count bound applies: about 4000 per MB.
	st = newSessionStore((1<<20)/sessionZoneBytesPer, 1<<20)
	for range 5000 {
		st.put(owner, make([]byte, 60), now.Add(time.Hour), now)
	}
	if n := st.len(); n != 4096 {
		t.Fatalf("1m zone holds %d small sessions, want 4096", n)
	}
}

func TestSessionStoreRefusesWhatNginxWouldNotStore(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var owner, other [32]byte
	other[0] = 1
	st := newSessionStore(10, 0)
	if k := st.put(owner, make([]byte, sessionMaxBytes+1), now.Add(time.Hour), now); len(k) != sessionIDLen || st.len() != 0 {
		t.Fatalf("a session over %d bytes was stored (len %d)", sessionMaxBytes, st.len())
	}
	if st.put(owner, []byte("x"), now, now); st.len() != 0 {
		t.Fatal("an expired session was stored")
	}
	k := st.put(owner, []byte("x"), now.Add(time.Minute), now)
	if st.get(other, k, now) != nil {
		t.Fatal("a session was handed to another server")
	}
	if st.get(owner, k, now.Add(time.Minute)) != nil || st.len() != 0 {
		t.Fatal("a session was kept at its expiry")
	}
}

func TestSessionStoreSharing(t *testing.T) {
	a := &config.Server{SSLSessionCacheZone: "T1", SSLSessionCacheZoneSize: 1 << 20}
	b := &config.Server{SSLSessionCacheZone: "T1", SSLSessionCacheZoneSize: 1 << 20}
	za := sessionStoreFor(a)
	if zb := sessionStoreFor(b); zb != za {
		t.Fatal("two servers naming one zone got different stores")
	}
	c := &config.Server{SSLSessionCacheZone: "T1", SSLSessionCacheZoneSize: 2 << 20}
	if sessionStoreFor(c) == za {
		t.Fatal("a zone whose size changed kept its old store")
	}
	b1 := &config.Server{SSLSessionCacheBuiltin: 100}
	b2 := &config.Server{SSLSessionCacheBuiltin: 100}
	if sessionStoreFor(b1) != sessionStoreFor(b1) {
		t.Fatal("one server's listeners got different builtin stores")
	}
	if sessionStoreFor(b1) == sessionStoreFor(b2) {
		t.Fatal("two servers share a builtin store")
	}
	if sessionStoreFor(&config.Server{}) != nil {
		t.Fatal("off/none got a store")
	}
	runtime.KeepAlive(za)
}

// TestSessionStoreRegistryForgets: stores of configurations that are gone
// leave the registries, so reloads do not accumulate them.
func TestSessionStoreRegistryForgets(t *testing.T) {
	for i := range 50 {
		sessionStoreFor(&config.Server{SSLSessionCacheBuiltin: 10})
		sessionStoreFor(&config.Server{SSLSessionCacheZone: fmt.Sprintf("gone%d", i), SSLSessionCacheZoneSize: 1 << 15})
	}
	count := func() int {
		sessionStores.mu.Lock()
		defer sessionStores.mu.Unlock()
		n := len(sessionStores.builtin)
		for name := range sessionStores.zones {
			if len(name) > 4 && name[:4] == "gone" {
				n++
			}
		}
		return n
	}
	for range 1000 { // cleanups run on the runtime's goroutine: let it
		if count() == 0 {
			return
		}
		runtime.GC()
		runtime.Gosched()
	}
	t.Fatalf("%d stores still registered after their configurations were collected", count())
}

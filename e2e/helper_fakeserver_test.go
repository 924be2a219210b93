package e2e

import (
	"net"
	"sync"
	"testing"
)

// fakeServer is a scripted server on a loopback port: each accepted
// connection gets a session record of type S and runs serve in its own
// goroutine. Connections and the listener are closed at test end.
type fakeServer[S any] struct {
	Port int
	name string
	ln   net.Listener

	mu       sync.Mutex
	sessions []*S
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

func startFakeServer[S any](t testing.TB, name string, serve func(net.Conn, *S)) *fakeServer[S] {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeServer[S]{Port: ln.Addr().(*net.TCPAddr).Port, name: name, ln: ln, conns: map[net.Conn]bool{}}
	b.wg.Add(1)
	go b.accept(serve)
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// count is the number of connections accepted so far.
func (b *fakeServer[S]) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

// session returns the record of the i-th connection (from 0).
func (b *fakeServer[S]) session(t testing.TB, i int) *S {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if i >= len(b.sessions) {
		t.Fatalf("%s has %d sessions, want session %d", b.name, len(b.sessions), i)
	}
	return b.sessions[i]
}

func (b *fakeServer[S]) accept(serve func(net.Conn, *S)) {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		s := new(S)
		b.mu.Lock()
		b.sessions = append(b.sessions, s)
		b.conns[c] = true
		b.wg.Add(1)
		b.mu.Unlock()
		go func() {
			defer b.wg.Done()
			serve(c, s)
			c.Close()
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
		}()
	}
}

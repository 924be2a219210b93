// Package netsrv is the accept loop and connection bookkeeping the mock
// servers (mockauth, mockbackend) share: every listener and connection is
// tracked so that Close stops them all.
package netsrv

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// Group is a set of listeners and the connections they accepted. The zero
// value is ready to use; its methods are safe for concurrent use.
type Group struct {
	Accepts atomic.Uint64 // TCP connections accepted

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
}

// Serve accepts connections on ln until ln is closed or Close is called,
// running handle for each in its own goroutine; the connection is closed
// when handle returns.
func (g *Group) Serve(ln net.Listener, handle func(net.Conn)) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return net.ErrClosed
	}
	if g.lns == nil {
		g.lns = map[net.Listener]struct{}{}
		g.conns = map[net.Conn]struct{}{}
	}
	g.lns[ln] = struct{}{}
	g.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		g.Accepts.Add(1)
		if !g.add(c) {
			c.Close()
			return net.ErrClosed
		}
		go func() {
			handle(c)
			g.mu.Lock()
			delete(g.conns, c)
			g.mu.Unlock()
			c.Close()
		}()
	}
}

func (g *Group) add(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.conns[c] = struct{}{}
	return true
}

// Close stops all listeners and connections.
func (g *Group) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for ln := range g.lns {
		ln.Close()
	}
	for c := range g.conns {
		c.Close()
	}
	return nil
}

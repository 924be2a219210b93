package loop

import (
	"errors"
	"net"
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/socket"
	"golang.org/x/sys/unix"
)

// Raw sockets straight into gnet's loops.
//
// gnet v2.9.7 only adopts sockets it did not accept itself through
// Engine.Register / EventLoop.Enroll, which want a *net.TCPConn: the socket
// is first registered in Go's own poller (epoll_ctl ADD, getsockname,
// getpeername, setsockopt), then an ants goroutine dups the fd, queues the
// registration on the loop, waits for it, and closes the original (epoll_ctl
// DEL, close). That is 7-8 system calls and three goroutine hand-offs per
// connection, twice per login (the client and the backend); strace showed
// mailproxy making 62-72 system calls per login against nginx's 35.
//
// gnetraw registers a socket the way gnet's own acceptor does: it builds
// gnet's conn around the fd with gnet's (unexported) constructor and runs
// gnet's register0 on the loop, reached with go:linkname. Everything else
// (reading, writing, closing) is gnet's ordinary code. The linked symbols
// are pinned to gnet v2.9.7 (go.mod): an upgrade that renames them fails
// the build, and rawInit checks the shapes it reads with reflection and
// switches back to Register/Enroll if they moved (gnetRawOK false).

//go:linkname gnetNewStreamConn github.com/panjf2000/gnet/v2.newStreamConn
func gnetNewStreamConn(proto string, fd int, el unsafe.Pointer, sa unix.Sockaddr, localAddr, remoteAddr net.Addr) unsafe.Pointer

//go:linkname gnetRegister0 github.com/panjf2000/gnet/v2.(*eventloop).register0
func gnetRegister0(el unsafe.Pointer, c unsafe.Pointer) error

// rawLoop is one gnet event loop as gnetraw sees it: the public handle and
// the pointer its unexported functions take.
type rawLoop struct {
	el  gnet.EventLoop
	ptr unsafe.Pointer
	// sessions counts the loop's client sessions (openClient to finish),
	// pending the accepted sockets queued for it; pick balances on both.
	sessions, pending atomic.Int64
}

// rawEngine holds the loops of the running engine, found once at boot.
type rawEngine struct {
	loops    []*rawLoop
	connType reflect.Type // gnet's *conn, to turn a new conn into a gnet.Conn
}

var errRawUnsupported = errors.New("gnet internals are not the ones of v2.9.7")

// rawInit reads the engine's event loops out of gnet's unexported fields:
// Engine.eng.eventLoops (a load balancer).baseLoadBalancer.eventLoops.
// gnet creates the loops after OnBoot, so this runs from the first OnTick:
// the ticker goroutine is started after the loops are registered.
func rawInit(eng gnet.Engine) (*rawEngine, error) {
	ev := reflect.ValueOf(&eng).Elem()
	if ev.Kind() != reflect.Struct || ev.NumField() < 1 {
		return nil, errRawUnsupported
	}
	engPtr := rawField(ev.Field(0))
	if engPtr.Kind() != reflect.Pointer || engPtr.IsNil() {
		return nil, errRawUnsupported
	}
	lb := rawField(engPtr.Elem().FieldByName("eventLoops"))
	if !lb.IsValid() || lb.Kind() != reflect.Interface || lb.IsNil() {
		return nil, errRawUnsupported
	}
	lbv := lb.Elem()
	if lbv.Kind() != reflect.Pointer || lbv.IsNil() {
		return nil, errRawUnsupported
	}
	els := lbv.Elem().FieldByName("eventLoops")
	if !els.IsValid() || els.Kind() != reflect.Slice || els.Len() == 0 {
		return nil, errRawUnsupported
	}
	elType := els.Type().Elem() // *eventloop
	conns, ok := elType.Elem().FieldByName("connections")
	if !ok {
		return nil, errRawUnsupported
	}
	// connMatrix is a map by default, a matrix with the gc_opt build tag.
	var connType reflect.Type // *conn
	if m, ok := conns.Type.FieldByName("connMap"); ok && m.Type.Kind() == reflect.Map {
		connType = m.Type.Elem()
	} else if t, ok := conns.Type.FieldByName("table"); ok && t.Type.Kind() == reflect.Array && t.Type.Elem().Kind() == reflect.Slice {
		connType = t.Type.Elem().Elem()
	}
	if connType == nil || connType.Kind() != reflect.Pointer || !connType.Implements(reflect.TypeFor[gnet.Conn]()) {
		return nil, errRawUnsupported
	}
	re := &rawEngine{connType: connType}
	for i := range els.Len() {
		p := rawField(els.Index(i))
		el, ok := p.Interface().(gnet.EventLoop)
		if !ok || p.IsNil() {
			return nil, errRawUnsupported
		}
		re.loops = append(re.loops, &rawLoop{el: el, ptr: p.UnsafePointer()})
	}
	return re, nil
}

// rawField makes an unexported field readable (it stays read-only in spirit:
// gnetraw never writes through it).
func rawField(v reflect.Value) reflect.Value {
	if !v.IsValid() || !v.CanAddr() {
		return v
	}
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

// pick chooses the loop for a new client connection: the one with the
// fewest client sessions (backend and auth_http connections do not count),
// but the first loop unless it has two more than that: a light load stays
// on one loop and its kept-alive auth_http connection (authloop.go), a
// heavy one is balanced within one session. The caller takes the pending
// count back once the socket is registered. Safe for concurrent use.
func (re *rawEngine) pick() *rawLoop {
	first := re.loops[0]
	best := first
	load0 := first.sessions.Load() + first.pending.Load()
	min := load0
	for _, l := range re.loops[1:] {
		if n := l.sessions.Load() + l.pending.Load(); n < min {
			best, min = l, n
		}
	}
	if load0-min < 2 {
		best = first
	}
	best.pending.Add(1)
	return best
}

// loopFor finds the raw handle of el.
func (re *rawEngine) loopFor(el gnet.EventLoop) *rawLoop {
	for _, l := range re.loops {
		if l.el == el {
			return l
		}
	}
	return nil
}

// register adopts fd (a connected or connecting non-blocking stream
// socket) on loop l with ctx as its context; gnet's OnOpen runs before it
// returns. On error fd is closed. Must run on l (an Execute closure or a
// callback of one of l's conns).
func (re *rawEngine) register(l *rawLoop, fd int, network string, sa unix.Sockaddr, local, remote net.Addr, ctx any) error {
	p := gnetNewStreamConn(network, fd, l.ptr, sa, local, remote)
	c, _ := reflect.NewAt(re.connType.Elem(), p).Interface().(gnet.Conn)
	if c == nil {
		_ = unix.Close(fd)
		return errRawUnsupported
	}
	c.SetContext(ctx)
	// register0 closes fd itself when epoll refuses it.
	return gnetRegister0(l.ptr, p)
}

// rawSockaddrAddr is the net.Addr gnet keeps for sa. An IPv4 or zoneless
// IPv6 address gets its IP bytes in the same allocation, so that sa itself
// can be dropped; zones go through gnet's own helper, whose release puts
// them back in gnet's pool.
func rawSockaddrAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return rawTCPAddrOf(a.Addr[:], a.Port)
	case *unix.SockaddrInet6:
		if a.ZoneId == 0 {
			return rawTCPAddrOf(a.Addr[:], a.Port)
		}
	}
	return socket.SockaddrToTCPOrUnixAddr(sa)
}

// rawTCPAddrOf makes a *net.TCPAddr holding a copy of ip (4 or 16 bytes).
func rawTCPAddrOf(ip []byte, port int) *net.TCPAddr {
	t := &rawTCPAddr{}
	n := copy(t.ip[:], ip)
	t.TCPAddr = net.TCPAddr{IP: t.ip[:n], Port: port}
	return &t.TCPAddr
}

// rawTCPAddr is a net.TCPAddr with room for its IP.
type rawTCPAddr struct {
	net.TCPAddr
	ip [16]byte
}

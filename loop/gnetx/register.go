package gnetx

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

// Sockets straight into gnet's loops.
//
// gnet v2.9.7 only adopts sockets it did not accept itself through
// Engine.Register / EventLoop.Enroll, which want a *net.TCPConn: the socket
// is first registered in Go's own poller (epoll_ctl ADD, getsockname,
// getpeername, setsockopt), then an ants goroutine dups the fd, queues the
// registration on the loop, waits for it, and closes the original (epoll_ctl
// DEL, close): several system calls and three goroutine hand-offs per
// connection, twice per login (the client and the backend). bench/RESULTS.md
// has the strace counts.
//
// Register adopts a socket the way gnet's own acceptor does: it builds
// gnet's conn around the fd with gnet's (unexported) constructor and runs
// gnet's register0 on the loop, reached with go:linkname. Everything else
// (reading, writing, closing) is gnet's ordinary code. The linked symbols
// are pinned to gnet v2.9.7 (go.mod, version.go): an upgrade that renames
// them fails the build, and Init checks the shapes it reads with
// reflection and fails, so mailproxy refuses to start, if they moved.

//go:linkname gnetNewStreamConn github.com/panjf2000/gnet/v2.newStreamConn
func gnetNewStreamConn(proto string, fd int, el unsafe.Pointer, sa unix.Sockaddr, localAddr, remoteAddr net.Addr) unsafe.Pointer

//go:linkname gnetRegister0 github.com/panjf2000/gnet/v2.(*eventloop).register0
func gnetRegister0(el unsafe.Pointer, c unsafe.Pointer) error

// Loop is one gnet event loop: the public handle and the pointer gnet's
// unexported functions take.
type Loop struct {
	EL  gnet.EventLoop
	ptr unsafe.Pointer
	// Sessions counts the loop's client sessions (the caller adds and
	// takes back), Pending the accepted sockets queued for it; Pick
	// balances on both.
	Sessions, Pending atomic.Int64
}

// Engine holds the loops of the running engine, found once at boot.
type Engine struct {
	Loops    []*Loop
	connType reflect.Type // gnet's *conn, to turn a new conn into a gnet.Conn
}

// ErrUnsupported is returned when gnet's internals are not the ones this
// package was written for.
var ErrUnsupported = errors.New("gnet internals are not the ones of " + GnetModule + " " + PinnedVersion)

// Init reads the engine's event loops out of gnet's unexported fields:
// Engine.eng.eventLoops (a load balancer).baseLoadBalancer.eventLoops.
// gnet creates the loops after OnBoot, so this runs from the first OnTick:
// the ticker goroutine is started after the loops are registered.
func Init(eng gnet.Engine) (*Engine, error) {
	if err := CheckVersion(); err != nil {
		return nil, err
	}
	ev := reflect.ValueOf(&eng).Elem()
	if ev.Kind() != reflect.Struct || ev.NumField() < 1 {
		return nil, ErrUnsupported
	}
	engPtr := rawField(ev.Field(0))
	if engPtr.Kind() != reflect.Pointer || engPtr.IsNil() {
		return nil, ErrUnsupported
	}
	lb := rawField(engPtr.Elem().FieldByName("eventLoops"))
	if !lb.IsValid() || lb.Kind() != reflect.Interface || lb.IsNil() {
		return nil, ErrUnsupported
	}
	lbv := lb.Elem()
	if lbv.Kind() != reflect.Pointer || lbv.IsNil() {
		return nil, ErrUnsupported
	}
	els := lbv.Elem().FieldByName("eventLoops")
	if !els.IsValid() || els.Kind() != reflect.Slice || els.Len() == 0 {
		return nil, ErrUnsupported
	}
	elType := els.Type().Elem() // *eventloop
	conns, ok := elType.Elem().FieldByName("connections")
	if !ok {
		return nil, ErrUnsupported
	}
	// connMatrix is a map by default, a matrix with the gc_opt build tag.
	var connType reflect.Type // *conn
	if m, ok := conns.Type.FieldByName("connMap"); ok && m.Type.Kind() == reflect.Map {
		connType = m.Type.Elem()
	} else if t, ok := conns.Type.FieldByName("table"); ok && t.Type.Kind() == reflect.Array && t.Type.Elem().Kind() == reflect.Slice {
		connType = t.Type.Elem().Elem()
	}
	if connType == nil || connType.Kind() != reflect.Pointer || !connType.Implements(reflect.TypeFor[gnet.Conn]()) {
		return nil, ErrUnsupported
	}
	if !epollPathOK(connType) {
		return nil, ErrUnsupported
	}
	re := &Engine{connType: connType}
	for i := range els.Len() {
		p := rawField(els.Index(i))
		el, ok := p.Interface().(gnet.EventLoop)
		if !ok || p.IsNil() {
			return nil, ErrUnsupported
		}
		re.Loops = append(re.Loops, &Loop{EL: el, ptr: p.UnsafePointer()})
	}
	return re, nil
}

// rawField makes an unexported field readable (it stays read-only in spirit:
// nothing writes through it).
func rawField(v reflect.Value) reflect.Value {
	if !v.IsValid() || !v.CanAddr() {
		return v
	}
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

// PickFrom chooses the loop for a connection accepted on here: here,
// unless it has two client sessions more than the least loaded loop
// (backend connections do not count), which then gets it; so a light
// load stays on the loop that woke while a heavy one is balanced within
// one session. It counts the connection in the chosen loop's Pending; the
// caller takes it back once the socket is registered. Safe for
// concurrent use.
func (re *Engine) PickFrom(here *Loop) *Loop {
	best := here
	load := here.Sessions.Load() + here.Pending.Load()
	min := load
	for _, l := range re.Loops {
		if n := l.Sessions.Load() + l.Pending.Load(); n < min {
			best, min = l, n
		}
	}
	if load-min < 2 {
		best = here
	}
	best.Pending.Add(1)
	return best
}

// LoopFor finds the handle of el, nil if el is not one of the engine's.
func (re *Engine) LoopFor(el gnet.EventLoop) *Loop {
	for _, l := range re.Loops {
		if l.EL == el {
			return l
		}
	}
	return nil
}

// Register adopts fd (a connected or connecting non-blocking stream
// socket) on loop l with ctx as its context; gnet's OnOpen runs before it
// returns. On error fd is closed. Must run on l (an Execute closure or a
// callback of one of l's conns).
func (re *Engine) Register(l *Loop, fd int, network string, local, remote net.Addr, ctx any) error {
	_, err := re.register(l, fd, network, local, remote, ctx)
	return err
}

func (re *Engine) register(l *Loop, fd int, network string, local, remote net.Addr, ctx any) (gnet.Conn, error) {
	// gnet keeps a Sockaddr only for datagram replies; stream sockets
	// need none.
	p := gnetNewStreamConn(network, fd, l.ptr, nil, local, remote)
	c, _ := reflect.NewAt(re.connType.Elem(), p).Interface().(gnet.Conn)
	if c == nil {
		_ = unix.Close(fd)
		return nil, ErrUnsupported
	}
	c.SetContext(ctx)
	// register0 closes fd itself when epoll refuses it.
	return c, gnetRegister0(l.ptr, p)
}

// SockaddrAddr is the net.Addr gnet keeps for sa. An IPv4 or zoneless
// IPv6 address gets its IP bytes in the same allocation, so that sa itself
// can be dropped; zones go through gnet's own helper, whose release puts
// them back in gnet's pool.
func SockaddrAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return TCPAddrOf(a.Addr[:], a.Port)
	case *unix.SockaddrInet6:
		if a.ZoneId == 0 {
			return TCPAddrOf(a.Addr[:], a.Port)
		}
	}
	return socket.SockaddrToTCPOrUnixAddr(sa)
}

// TCPAddrOf makes a *net.TCPAddr holding a copy of ip (4 or 16 bytes).
func TCPAddrOf(ip []byte, port int) *net.TCPAddr {
	t := &tcpAddr{}
	n := copy(t.ip[:], ip)
	t.TCPAddr = net.TCPAddr{IP: t.ip[:n], Port: port}
	return &t.TCPAddr
}

// tcpAddr is a net.TCPAddr with room for its IP.
type tcpAddr struct {
	net.TCPAddr
	ip [16]byte
}

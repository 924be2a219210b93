package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"

	"mailproxy/config"
	"mailproxy/loop/admin"
	"mailproxy/loop/authhttp"
	"mailproxy/loop/gnetx"
	"mailproxy/loop/limits"
	"mailproxy/loop/mailtls"
	"mailproxy/loop/stats"
)

var errNoServers = errors.New("no mail servers are configured")

// Version is reported by -v and the build_info metric.
var Version = "0.1.0"

// serverRT is one listen socket of one server{} block at run time. It is
// immutable; a reload makes new ones, and sessions keep the one they
// started with.
type serverRT struct {
	rt     *runtimeState
	cfg    *config.Server
	listen string // the listen address as configured, for logs and labels
	stats  *stats.ListenerStats
	ops    *protoOps
	auth   *authhttp.Group // the auth_http servers (authhttp.go builds it)
	cache  *authhttp.Cache // auth_http_cache; nil when off
	log    *slog.Logger
	tls    *mailtls.Server // TLS material (tls_config.go); nil without TLS
	lim    *limits.Policy  // edge defence (edge.go); nil when none is configured
	pre    *limits.Counter // this listener's pre-auth count, kept across reloads
}

// listenerRT is one bound socket and its accept goroutine. A reload that
// keeps the address keeps the socket and swaps srv.
type listenerRT struct {
	key     string // network + " " + address
	network string
	addr    string
	srv     atomic.Pointer[serverRT]
	// The listening socket as a bare fd (accept.go), its address, and
	// whether that is a wildcard (the address a client reached is asked
	// per connection then).
	fd       int
	local    net.Addr
	wildcard bool
	// mu guards fd and bells: loops accept under it (read), closing
	// takes it (write), so no loop accepts on a closed, reused fd.
	mu      sync.RWMutex
	bells   []*bellRT
	closing atomic.Bool
}

// newListenerRT takes ln's socket for the accept bells (listenFD closes
// ln).
func newListenerRT(key, network, addr string, ln net.Listener) (*listenerRT, error) {
	local := ln.Addr()
	fd, err := listenFD(ln)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	l := &listenerRT{key: key, network: network, addr: addr, fd: fd, local: local}
	if ta, ok := local.(*net.TCPAddr); ok && (ta.IP == nil || ta.IP.IsUnspecified()) {
		l.wildcard = true
	}
	return l, nil
}

// submitter takes blocking work off the loops without blocking: the
// worker pool (NewPool), or a test's stand-in.
type submitter interface {
	TrySubmit(f func()) bool
}

// runtimeState is the whole running proxy.
type runtimeState struct {
	cfg        atomic.Pointer[config.Config]
	log        *slog.Logger
	eng        gnet.Engine
	raw        *gnetx.Engine // the loops, as loop/gnetx registers sockets on them
	pool       submitter     // the worker pool (pool.go)
	clock      *clock
	loops      sync.Map // gnet.EventLoop -> *loopState
	nloops     atomic.Int32
	numLoops   int
	sessions   atomic.Int64
	nextID     atomic.Uint64
	nextWaiter atomic.Uint32 // round robin of the auth_http doorbells over the loops (authwake.go)
	draining   atomic.Bool
	stopping   atomic.Bool // the engine is closing every connection (INT, or the end of a drain)
	ready      atomic.Bool
	// upgradeChild: a new binary started by USR2 is running (upgrade.go);
	// the unix-socket listeners' files are then its too.
	upgradeChild atomic.Bool
	// inherited: listening sockets handed over by the process this one
	// upgrades (upgrade.go), taken by bind; touched only by Run's goroutine.
	inherited map[string]*os.File

	// Touched only by the goroutine running Run (start, signals).
	listeners map[string]*listenerRT
	auths     map[string]*authhttp.Client
	stats     map[string]*stats.ListenerStats
	// per-server error_log handlers, by targets (logs.go)
	logHandlers map[string]*config.LogHandler

	// limits holds the edge-defence counters and bans (edge.go): the
	// runtime's, not a server's, so a reload keeps them.
	limits *limits.Limiter
}

// Run starts the proxy described by cfg and blocks until it is stopped by a
// signal (TERM/QUIT drain, INT stops at once; HUP reloads, USR1 reopens
// logs). It returns an error when it cannot start. bound, if not nil, is
// called once the listeners are bound and before root is dropped (the
// "user" directive): the place to write the pid file, as nginx writes it
// only once its sockets are its own. An error from bound stops the start.
func Run(cfg *config.Config, log *slog.Logger, bound func() error) error {
	if cfg.Mail == nil || len(cfg.Mail.Servers) == 0 {
		return errNoServers
	}
	n := cfg.WorkerProcesses
	if n <= 0 {
		n = runtime.NumCPU()
	}
	rt := &runtimeState{log: log, numLoops: n,
		listeners: map[string]*listenerRT{},
		auths:     map[string]*authhttp.Client{},
		stats:     map[string]*stats.ListenerStats{},
	}
	rt.cfg.Store(cfg)
	rt.inherited = inheritedListeners()
	panicLog.Store(log)
	rt.limits = limits.New(cfg.Limits.TableSize)
	rt.limits.Configure(cfg.Limits, log)
	defer rt.limits.Close()
	stats.LimitTracked(rt.limits.Tracked)
	workers := 64 * n
	pool := NewPool(workers, 16*workers)
	rt.pool = pool
	rt.clock = newClock()
	defer rt.clock.close()
	defer func() {
		for _, ac := range rt.auths {
			ac.Close()
		}
	}()

	// Listeners first, so that a port in use fails start-up before any
	// loop runs.
	servers, err := rt.buildServers(cfg)
	if err != nil {
		return err
	}
	opened, err := rt.bind(servers)
	if err != nil {
		return err
	}
	var adminLn net.Listener
	if cfg.Admin != nil && cfg.Admin.Listen != "" {
		// Taken before bound (the pid file) too, so that a failure to
		// bind it leaves a running instance's pid file alone.
		if adminLn, err = rt.adoptListener("admin " + cfg.Admin.Listen); err == nil && adminLn == nil {
			adminLn, err = net.Listen("tcp", cfg.Admin.Listen)
		}
		if err != nil {
			rt.closeListeners(opened)
			return fmt.Errorf("admin listener %s: %v", cfg.Admin.Listen, err)
		}
	}
	rt.closeInherited()
	if bound != nil {
		if err := bound(); err != nil {
			rt.closeListeners(opened)
			return err
		}
	}
	// The "user" directive: bound to privileged ports, drop root now.
	if err := cfg.DropPrivileges(); err != nil {
		rt.closeListeners(opened)
		return err
	}

	booted := make(chan struct{})
	h := &handler{rt: rt, booted: booted, rawDone: make(chan rawResult, 1)}
	runErr := make(chan error, 1)
	go func() {
		runErr <- gnet.Run(h, "tcp://127.0.0.1:0",
			gnet.WithNumEventLoop(n),
			gnet.WithLoadBalancing(gnet.LeastConnections),
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithTicker(true), // one OnTick, for gnetx.Init

			gnet.WithLogger(quietLogger{log}),
		)
	}()
	select {
	case <-booted:
	case err := <-runErr:
		rt.closeListeners(opened)
		return fmt.Errorf("event loops did not start: %v", err)
	}
	// Sockets are accepted and connected by mailproxy and registered
	// straight into gnet's loops (loop/gnetx). Without that there is no
	// way to pause reads either, so a gnet whose internals moved stops
	// the start here, loudly: there is no slower fallback to run untested.
	var rawErr error
	select {
	case r := <-h.rawDone:
		rt.raw, rawErr = r.eng, r.err
	case <-time.After(5 * time.Second):
		rawErr = errors.New("gnet's first tick did not come within 5s")
	}
	if rawErr != nil {
		rt.closeListeners(opened)
		stopEngine(rt.eng)
		return fmt.Errorf("event loops: %v", rawErr)
	}
	rt.startAccepting(opened)
	stats.SetBuildInfo(Version)
	stats.LogDropped(config.SyslogDropped)
	var adm *admin.Admin
	if adminLn != nil {
		adm = admin.Serve(adminLn, func() bool { return rt.ready.Load() && !rt.draining.Load() })
		defer adm.Close()
	}
	rt.ready.Store(true)
	sdReady()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	for {
		select {
		case err := <-runErr:
			// gnet's engine stopped underneath us: exit non-zero so a
			// supervisor restarts us.
			return fmt.Errorf("event loops stopped: %v", err)
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				sdNotify("RELOADING=1")
				rt.reload()
				sdNotify("READY=1")
				continue
			case syscall.SIGUSR1:
				rt.reopenLogs()
				continue
			case syscall.SIGUSR2:
				rt.upgrade(adminLn)
				continue
			}
			log.Info("signal received, exiting", "signal", sig.String())
			if !rt.upgradeChild.Load() {
				// After an upgrade the new process is the service.
				sdNotify("STOPPING=1")
			}
			rt.draining.Store(true)
			all := make([]*listenerRT, 0, len(rt.listeners))
			for _, l := range rt.listeners {
				all = append(all, l)
			}
			rt.closeListeners(all)
			if sig != syscall.SIGINT {
				rt.drain(rt.cfg.Load().ShutdownTimeout)
			}
			rt.stopping.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = rt.eng.Stop(ctx)
			cancel()
			// Workers still waiting on auth_http or a backend dial are not
			// waited for: their sessions are gone and the process exits.
			log.Info("exit")
			return nil
		}
	}
}

// Check reports what Run would refuse in cfg beyond what config.Load
// checks (an smtp_capabilities item mailproxy cannot honour, TLS material
// that does not load, an error_log file that cannot be opened), so that
// "mailproxy -t" refuses it too. Like nginx -t, it opens (and so creates)
// every error_log file, main and per-server.
func Check(cfg *config.Config) error {
	if cfg.Mail == nil || len(cfg.Mail.Servers) == 0 {
		return errNoServers
	}
	if err := checkLogs(cfg.ErrorLogs); err != nil {
		return err
	}
	for _, sc := range cfg.Mail.Servers {
		if _, err := opsFor(sc); err != nil {
			return err
		}
		if err := checkLogs(sc.ErrorLogs); err != nil {
			return err
		}
		if _, err := mailtls.AuthHTTPConfig(sc); err != nil { // https:// auth servers
			return err
		}
		// Certificates, keys, CA files, ciphers and curves, as a start
		// would load them.
		for _, l := range sc.Listens {
			if _, err := mailtls.NewServer(sc, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkLogs opens the targets as Run would, and closes them again.
func checkLogs(targets []config.LogTarget) error {
	if len(targets) == 0 {
		return nil
	}
	h, err := config.NewLogHandler(targets)
	if err != nil {
		return err
	}
	return h.Close()
}

// buildServers makes the run-time servers of cfg, one per listen socket,
// reusing auth clients and listener metrics that a previous configuration
// already had.
func (rt *runtimeState) buildServers(cfg *config.Config) ([]*serverRT, error) {
	var out []*serverRT
	for _, sc := range cfg.Mail.Servers {
		ops, err := opsFor(sc)
		if err != nil {
			return nil, err
		}
		ac, cache, err := rt.authGroup(sc) // authhttp.go
		if err != nil {
			return nil, err
		}
		slog, err := rt.serverLog(sc)
		if err != nil {
			return nil, err
		}
		for _, l := range sc.Listens {
			srv := &serverRT{rt: rt, cfg: sc, listen: l.Addr, ops: ops, auth: ac, cache: cache, log: slog}
			skey := sc.Protocol.String() + " " + l.Addr
			if srv.lim = limits.NewPolicy(sc, cfg.Limits); srv.lim != nil && rt.limits != nil {
				srv.pre = rt.limits.Counter(preauthKey(sc)) // one count for all of the server's sockets
			}
			st := rt.stats[skey]
			if st == nil {
				st = stats.NewListenerStats(sc.Protocol.String(), l.Addr, rt.numLoops)
				rt.stats[skey] = st
			}
			srv.stats = st
			t, err := mailtls.NewServer(sc, l)
			if err != nil {
				return nil, err
			}
			srv.tls = t
			out = append(out, srv)
		}
	}
	return out, nil
}

func listenKey(srv *serverRT) (key, network, addr string) {
	network = "tcp"
	addr = srv.listen
	for _, l := range srv.cfg.Listens {
		if l.Addr == srv.listen && l.Network != "" {
			network = l.Network
		}
	}
	if network == "unix" {
		addr = trimUnix(addr)
	}
	return network + " " + addr, network, addr
}

// listenOf returns the listen directive srv was made for.
func listenOf(srv *serverRT) *config.Listen {
	for i := range srv.cfg.Listens {
		if srv.cfg.Listens[i].Addr == srv.listen {
			return &srv.cfg.Listens[i]
		}
	}
	return nil
}

// bind opens the sockets of servers that are not bound yet and points every
// listener (old or new) at its new server. It returns the new listeners,
// which do not accept until startAccepting. On error nothing changes.
func (rt *runtimeState) bind(servers []*serverRT) ([]*listenerRT, error) {
	var opened []*listenerRT
	for _, srv := range servers {
		key, network, addr := listenKey(srv)
		if _, ok := rt.listeners[key]; ok {
			continue
		}
		if ln, err := rt.adoptListener(key); err != nil || ln != nil {
			if err != nil {
				rt.closeListeners(opened)
				return nil, fmt.Errorf("inherited listener %s: %v", srv.listen, err)
			}
			l, err := newListenerRT(key, network, addr, ln)
			if err != nil {
				rt.closeListeners(opened)
				return nil, fmt.Errorf("inherited listener %s: %v", srv.listen, err)
			}
			l.srv.Store(srv)
			opened = append(opened, l)
			continue
		}
		if network == "unix" {
			// A socket file left by a process that died is removed; one
			// that a running process (another mailproxy on the same
			// config) still accepts on is its, not ours to take.
			if unixSocketLive(addr) {
				rt.closeListeners(opened)
				return nil, fmt.Errorf("bind() to %s failed (98: Address already in use)", srv.listen)
			}
			_ = os.Remove(addr)
		}
		ln, err := listenSocket(network, addr, listenOf(srv), srv.cfg.SoKeepalive)
		if err != nil {
			rt.closeListeners(opened)
			return nil, fmt.Errorf("bind() to %s failed (%v)", srv.listen, err)
		}
		l, err := newListenerRT(key, network, addr, ln)
		if err != nil {
			rt.closeListeners(opened)
			return nil, fmt.Errorf("bind() to %s failed (%v)", srv.listen, err)
		}
		l.srv.Store(srv)
		opened = append(opened, l)
	}
	for _, l := range opened {
		rt.listeners[l.key] = l
	}
	for _, srv := range servers {
		key, _, _ := listenKey(srv)
		rt.listeners[key].srv.Store(srv)
	}
	return opened, nil
}

func (rt *runtimeState) startAccepting(ls []*listenerRT) {
	for _, l := range ls {
		rt.startBells(l)
		srv := l.srv.Load()
		rt.log.Info("listening", "protocol", srv.cfg.Protocol.String(), "listen", srv.listen)
	}
}

// closeListeners stops accepting on ls on every loop and closes them.
func (rt *runtimeState) closeListeners(ls []*listenerRT) {
	for _, l := range ls {
		l.closing.Store(true)
		rt.stopBells(l)
		if l.network == "unix" && !rt.upgradeChild.Load() {
			// The socket file stays while a new binary (USR2) has it.
			_ = os.Remove(l.addr)
		}
		delete(rt.listeners, l.key)
	}
}

// unixSocketLive reports whether something accepts connections on the
// unix socket at path.
func unixSocketLive(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

func trimUnix(a string) string {
	if len(a) > 5 && a[:5] == "unix:" {
		return a[5:]
	}
	return a
}

// drain waits for sessions to end, up to timeout (0: no limit), as nginx's
// worker_shutdown_timeout does. Sessions that have not logged in are told
// goodbye and closed at once.
func (rt *runtimeState) drain(timeout time.Duration) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	// Pre-auth sessions are told goodbye, except, for a short grace, ones
	// just accepted or with a command waiting: a client whose connection
	// the listener took as it closed (or, in a binary upgrade, the old
	// process took) gets to log in, not a BYE. Then every one left.
	start := time.Now()
	for time.Since(start) < drainGrace {
		rt.forEachLoop(func(ls *loopState) { ls.closePreAuth(drainGrace / 2) })
		time.Sleep(drainGrace / 8)
	}
	rt.forEachLoop(func(ls *loopState) { ls.closePreAuth(0) })
	for rt.sessions.Load() > 0 {
		if !deadline.IsZero() && time.Now().After(deadline) {
			rt.log.Info("shutdown timeout")
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drainGrace is how long a drain lets new or busy pre-auth sessions go on
// before it closes every one still in pre-auth.
const drainGrace = 1500 * time.Millisecond

func (rt *runtimeState) forEachLoop(f func(ls *loopState)) {
	var wg sync.WaitGroup
	rt.loops.Range(func(_, v any) bool {
		ls := v.(*loopState)
		wg.Add(1)
		if err := ls.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			defer wg.Done()
			f(ls)
			return nil
		})); err != nil {
			wg.Done()
		}
		return true
	})
	wg.Wait()
}

// admit applies the accept-time limits to a new connection of srv: none
// while draining, none past worker_connections. It counts the session when
// it lets it in; the caller closes the connection when it does not.
func (rt *runtimeState) admit(srv *serverRT) bool {
	if rt.draining.Load() {
		srv.stats.Rejected("draining")
		return false
	}
	if limit := int64(rt.cfg.Load().WorkerConnections); limit > 0 && rt.sessions.Load() >= limit {
		srv.stats.Rejected("limit")
		rt.log.Warn("worker_connections are not enough", "server", srv.listen)
		return false
	}
	rt.sessions.Add(1)
	return true
}

// stopEngine stops gnet's engine, waiting up to 5 s.
func stopEngine(eng gnet.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = eng.Stop(ctx)
}

// quietLogger routes gnet's own log lines to ours.
type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Debugf(f string, a ...any) { q.l.Debug(fmt.Sprintf(f, a...)) }
func (q quietLogger) Infof(f string, a ...any)  { q.l.Debug(fmt.Sprintf(f, a...)) }
func (q quietLogger) Warnf(f string, a ...any)  { q.l.Warn(fmt.Sprintf(f, a...)) }
func (q quietLogger) Errorf(f string, a ...any) { q.l.Error(fmt.Sprintf(f, a...)) }
func (q quietLogger) Fatalf(f string, a ...any) { q.l.Error(fmt.Sprintf(f, a...)) }

var _ logging.Logger = quietLogger{}

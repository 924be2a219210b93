package loop

import (
	"strings"
	"time"

	"mailproxy/config"
	"mailproxy/loop/authhttp"
	"mailproxy/loop/stats"
)

// reload re-reads the configuration file (SIGHUP). The new configuration
// is parsed and validated, its new listeners bound, and only then swapped
// in; a bad file or a port that cannot be bound leaves the running
// configuration as it was. Sessions keep the server they started with.
// Called on the goroutine running Run.
func (rt *runtimeState) reload() {
	old := rt.cfg.Load()
	fail := func(msg string, err error) {
		stats.ConfigReload(false)
		rt.log.Error(msg+", keeping the running configuration", "err", err.Error())
	}
	cfg, err := config.Load(old.File)
	if err != nil {
		fail("reload failed", err)
		return
	}
	if cfg.Mail == nil || len(cfg.Mail.Servers) == 0 {
		fail("reload failed", errNoServers)
		return
	}
	servers, err := rt.buildServers(cfg)
	if err != nil {
		fail("reload failed", err)
		return
	}
	opened, err := rt.bind(servers)
	if err != nil {
		fail("reload failed", err)
		return
	}
	keep := map[string]bool{}
	for _, srv := range servers {
		k, _, _ := listenKey(srv)
		keep[k] = true
	}
	var gone []*listenerRT
	for k, l := range rt.listeners {
		if !keep[k] {
			gone = append(gone, l)
		}
	}
	rt.cfg.Store(cfg)
	rt.limits.Configure(cfg.Limits, rt.log) // the tables, their counts and bans stay
	rt.startAccepting(opened)
	for _, l := range gone {
		srv := l.srv.Load()
		rt.log.Info("listener removed", "listen", srv.listen)
	}
	rt.closeListeners(gone)
	used := map[*stats.ListenerStats]bool{}
	for _, srv := range servers {
		used[srv.stats] = true
	}
	for k, st := range rt.stats {
		if !used[st] {
			st.Unregister()
			delete(rt.stats, k)
		}
	}
	rt.retireAuthClients(servers, old)
	if cfg.WorkerProcesses != old.WorkerProcesses {
		rt.log.Warn("worker_processes changed: the number of event loops changes only on restart")
	}
	if cfg.GCHeapFloor != old.GCHeapFloor {
		rt.log.Warn("gc_heap_floor changed: it changes only on restart (or upgrade)")
	}
	if (cfg.Admin == nil) != (old.Admin == nil) || (cfg.Admin != nil && old.Admin != nil && cfg.Admin.Listen != old.Admin.Listen) {
		rt.log.Warn("admin listener changed: it changes only on restart")
	}
	stats.ConfigReload(true)
	rt.log.Info("configuration reloaded", "file", cfg.File)
}

// retireAuthClients closes the auth_http clients no server of the new
// configuration uses. Logins already in flight finish on their connection;
// those connections are closed once the old auth_http_timeout has passed.
func (rt *runtimeState) retireAuthClients(servers []*serverRT, old *config.Config) {
	used := map[*authhttp.Client]bool{}
	addrs := map[string]bool{}
	for _, srv := range servers {
		for _, c := range srv.auth.Clients() {
			used[c] = true
			addrs[c.Addr()] = true
		}
	}
	grace := time.Duration(0)
	for _, sc := range old.Mail.Servers {
		grace = max(grace, sc.AuthHTTPTimeout)
	}
	for k, ac := range rt.auths {
		if used[ac] {
			continue
		}
		delete(rt.auths, k)
		if addr, _, _ := strings.Cut(k, "|"); !addrs[addr] {
			stats.AuthConnsOpened(addr, nil)
			stats.AuthEndpoint(addr, stats.AuthEndpointFuncs{})
		}
		ac.Close()
		time.AfterFunc(grace+time.Second, ac.Close)
	}
}

// reopenLogs reopens the error_log files (SIGUSR1), for log rotation.
func (rt *runtimeState) reopenLogs() {
	if r, ok := rt.log.Handler().(interface{ Reopen() error }); ok {
		if err := r.Reopen(); err != nil {
			rt.log.Error("reopening logs failed", "err", err.Error())
			return
		}
	}
	for _, h := range rt.logHandlers {
		if err := h.Reopen(); err != nil {
			rt.log.Error("reopening logs failed", "err", err.Error())
			return
		}
	}
	rt.log.Info("logs reopened")
}

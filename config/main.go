package config

import (
	"os"
	"os/user"
	"strings"
)

// Main-context (core) and events{} directives. mailproxy runs one process
// in the foreground, so several of them are parsed and stored or ignored
// with a notice; none of them fails a config nginx would accept.

func mainFlag(name string, field func(*Config) *bool, notice string) *directive {
	return &directive{name: name, ctx: ctxMain, args: argFlag, set: func(p *parser, d *node) error {
		v, ok := valFlag(d.args[0])
		if !ok {
			return flagErr(d)
		}
		if field != nil {
			*field(p.cfg) = v
		}
		if notice != "" {
			p.notice("info", d, "%s", notice)
		}
		return nil
	}}
}

// mainIgnored accepts a directive real nginx configs carry and that means
// nothing to mailproxy, with a notice (or silently when quiet).
func mainIgnored(name string, ctx ctxMask, args arity, multi, quiet bool) *directive {
	return &directive{name: name, ctx: ctx, args: args, multi: multi, set: func(p *parser, d *node) error {
		if _, ok := valFlag(d.args[0]); args == argFlag && !ok {
			return flagErr(d)
		}
		if !quiet {
			p.notice("notice", d, `"%s" directive is ignored by mailproxy`, d.name)
		}
		return nil
	}}
}

func setWorkerProcesses(p *parser, d *node) error {
	if d.args[0] == "auto" {
		p.cfg.WorkerProcesses = 0
		return nil
	}
	n, ok := valAtoi(d.args[0])
	if !ok {
		return d.nodeErr(`"%s" directive invalid value`, d.name)
	}
	p.cfg.WorkerProcesses = n
	return nil
}

func setWorkerRlimitNofile(p *parser, d *node) error {
	n, ok := valAtoi(d.args[0])
	if !ok {
		return d.nodeErr(`"%s" directive invalid number`, d.name)
	}
	p.cfg.WorkerRlimitNofile = n
	return nil
}

func setWorkerShutdownTimeout(p *parser, d *node) error {
	v, ok := valTime(d.args[0], false)
	if !ok {
		return d.nodeErr(`"%s" directive invalid value`, d.name)
	}
	p.cfg.ShutdownTimeout = v
	return nil
}

// DefaultGCHeapFloor is gc_heap_floor's default: chosen by measurement
// (bench/RESULTS.md, issue 13, "A floor under the GC's heap goal").
const DefaultGCHeapFloor = 32 << 20

// setGCHeapFloor parses gc_heap_floor (mailproxy's own directive, main
// context): a size, or off. cmd/mailproxy applies it (gcfloor.go).
func setGCHeapFloor(p *parser, d *node) error {
	if d.args[0] == "off" {
		p.cfg.GCHeapFloor = 0
		return nil
	}
	v, ok := valSize(d.args[0])
	if !ok {
		return d.nodeErr(`"%s" directive invalid value`, d.name)
	}
	p.cfg.GCHeapFloor = v
	return nil
}

func setPid(p *parser, d *node) error {
	if d.args[0] == "off" {
		p.cfg.Pid = ""
		return nil
	}
	p.cfg.Pid = p.path(d.args[0])
	return nil
}

// setUser follows ngx_set_user: only meaningful for root; otherwise a
// warning and nothing is stored. The group defaults to the user's name.
func setUser(p *parser, d *node) error {
	if os.Geteuid() != 0 {
		p.notice("warn", d, `the "user" directive makes sense only if the master process runs with super-user privileges, ignored`)
		return nil
	}
	u, g := d.args[0], d.args[0]
	if len(d.args) == 2 {
		g = d.args[1]
	}
	if _, err := user.Lookup(u); err != nil {
		return d.nodeErr(`getpwnam("%s") failed`, u)
	}
	if _, err := user.LookupGroup(g); err != nil {
		return d.nodeErr(`getgrnam("%s") failed`, g)
	}
	p.cfg.User, p.cfg.Group = u, g
	return nil
}

// logLevels are nginx's error_log levels, lowest severity last.
var logLevels = map[string]bool{"emerg": true, "alert": true, "crit": true, "error": true, "warn": true, "notice": true, "info": true, "debug": true}

// parseLogTarget reads error_log FILE [LEVEL...] (ngx_log_set_levels).
func parseLogTarget(p *parser, d *node) (LogTarget, error) {
	t := LogTarget{Path: d.args[0], Level: "error"}
	if args, ok := strings.CutPrefix(t.Path, "syslog:"); ok {
		st, err := parseSyslog(p, d, args)
		if err != nil {
			return t, err
		}
		t.Syslog = st
	} else if size, ok := strings.CutPrefix(t.Path, "memory:"); ok {
		n, err := parseMemory(d, size)
		if err != nil {
			return t, err
		}
		t.Memory = n
		p.notice("notice", d, `"error_log %s" is accepted and discarded: mailproxy keeps no in-memory debug log; use a file or syslog: target`, t.Path)
	} else {
		t.Path = p.path(t.Path)
	}
	found := false
	for _, lv := range d.args[1:] {
		switch {
		case logLevels[lv]:
			if found {
				return t, d.nodeErr(`duplicate log level "%s"`, lv)
			}
			t.Level, found = lv, true
		case strings.HasPrefix(lv, "debug_"):
			// debug masks of nginx's debug builds: treated as debug.
			if !found {
				t.Level = "debug"
			}
		default:
			return t, d.nodeErr(`invalid log level "%s"`, lv)
		}
	}
	return t, nil
}

func setErrorLog(p *parser, d *node) error {
	t, err := parseLogTarget(p, d)
	if err != nil {
		return err
	}
	if p.ctx == ctxMain {
		p.cfg.ErrorLogs = append(p.cfg.ErrorLogs, t)
		return nil
	}
	s := &p.cur().s
	if p.first(d) {
		s.ErrorLogs = nil
	}
	s.ErrorLogs = append(s.ErrorLogs, t)
	return nil
}

func setEvents(p *parser, d *node) error { return p.block(d, ctxEvents) }

func setWorkerConnections(p *parser, d *node) error {
	n, ok := valAtoi(d.args[0])
	if !ok {
		return d.nodeErr(`invalid number "%s"`, d.args[0])
	}
	p.cfg.WorkerConnections = n
	return nil
}

// setNotMail rejects http{} and stream{} with the reason.
func setNotMail(p *parser, d *node) error {
	what := "HTTP"
	if d.name == "stream" {
		what = "TCP/UDP streams"
	}
	return d.nodeErr(`the "%s" block is not supported by mailproxy: it proxies mail only; serve %s with nginx`, d.name, what)
}

func init() {
	tableAdd("core",
		&directive{name: "worker_processes", ctx: ctxMain, args: take1, set: setWorkerProcesses},
		&directive{name: "worker_rlimit_nofile", ctx: ctxMain, args: take1, set: setWorkerRlimitNofile},
		&directive{name: "worker_shutdown_timeout", ctx: ctxMain, args: take1, set: setWorkerShutdownTimeout},
		&directive{name: "pid", ctx: ctxMain, args: take1, set: setPid},
		&directive{name: "gc_heap_floor", ctx: ctxMain, args: take1, set: setGCHeapFloor},
		&directive{name: "user", ctx: ctxMain, args: take12, set: setUser},
		mainFlag("daemon", func(c *Config) *bool { return &c.Daemon }, `mailproxy always runs in the foreground; "daemon" is ignored`),
		mainFlag("master_process", func(c *Config) *bool { return &c.MasterProcess }, `mailproxy always runs as a single process; "master_process" is ignored`),
		mainFlag("pcre_jit", nil, ""),
		&directive{name: "error_log", ctx: ctxMain | ctxMailServer, args: arg1More, multi: true, set: setErrorLog},
		&directive{name: "load_module", ctx: ctxMain, args: take1, multi: true, set: func(p *parser, d *node) error {
			p.notice("notice", d, `"load_module" is ignored: mailproxy has the mail modules built in`)
			return nil
		}},
		mainIgnored("env", ctxMain, take1, true, true),
		mainIgnored("thread_pool", ctxMain, take12|take3, true, false),
		mainIgnored("worker_cpu_affinity", ctxMain, arg1More, false, false),
		mainIgnored("worker_priority", ctxMain, take1, false, false),
		mainIgnored("worker_rlimit_core", ctxMain, take1, false, false),
		mainIgnored("working_directory", ctxMain, take1, false, false),
		mainIgnored("lock_file", ctxMain, take1, false, true),
		mainIgnored("timer_resolution", ctxMain, take1, false, false),
		mainIgnored("debug_points", ctxMain, take1, false, true),
		mainIgnored("ssl_engine", ctxMain, take1, false, false),
		&directive{name: "http", ctx: ctxMain, args: argBlock | take0, set: setNotMail},
		&directive{name: "stream", ctx: ctxMain, args: argBlock | take0, set: setNotMail},
	)
	tableAdd("events",
		&directive{name: "events", ctx: ctxMain, args: argBlock | take0, set: setEvents},
		&directive{name: "worker_connections", ctx: ctxEvents, args: take1, set: setWorkerConnections},
		mainIgnored("use", ctxEvents, take1, false, true),
		mainIgnored("multi_accept", ctxEvents, argFlag, false, true),
		mainIgnored("accept_mutex", ctxEvents, argFlag, false, true),
		mainIgnored("accept_mutex_delay", ctxEvents, take1, false, true),
		mainIgnored("worker_aio_requests", ctxEvents, take1, false, true),
		mainIgnored("debug_connection", ctxEvents, take1, true, true),
	)
}

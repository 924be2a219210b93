package loop

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A binary upgrade without dropping a session, as nginx's USR2 does it:
// the running process starts the binary found at the path it was started
// from, handing it every listening socket (mail listeners and the admin
// listener) as inherited descriptors, and renames its pid file to
// PID.oldbin; the new process adopts the sockets instead of binding and
// writes the pid file. Both accept on the same sockets until the old one
// is told to QUIT: it stops accepting and drains, its relayed sessions
// going on to their end or worker_shutdown_timeout. No connection is
// refused (the sockets never close) and none is accepted twice (the
// kernel gives each to one process). When the new binary exits (a failed
// start), the old one renames its pid file back and goes on alone.

// inheritEnv names the inherited sockets, in descriptor order from 3:
// listener keys ("tcp 127.0.0.1:143", "unix /run/x.sock", "admin ADDR")
// separated by ";".
const inheritEnv = "MAILPROXY_LISTENERS"

// startPath is the binary to start on an upgrade: the path this process
// was started from (not /proc/self/exe, which keeps naming the replaced
// file), resolved now, before any chdir.
var startPath = func() string {
	p := os.Args[0]
	if !strings.Contains(p, "/") {
		if lp, err := exec.LookPath(p); err == nil {
			p = lp
		}
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	return p
}()

// inheritedListeners takes the sockets a parent handed over, by key; empty
// for a process started normally. The environment variable is removed so
// that a later upgrade starts clean.
func inheritedListeners() map[string]*os.File {
	v := os.Getenv(inheritEnv)
	if v == "" {
		return nil
	}
	_ = os.Unsetenv(inheritEnv)
	out := map[string]*os.File{}
	for i, key := range strings.Split(v, ";") {
		fd := 3 + i
		syscall.CloseOnExec(fd)
		out[key] = os.NewFile(uintptr(fd), key)
	}
	return out
}

// adoptListener returns the inherited socket for key as a listener, or
// nil when there is none. Called on the goroutine running Run.
func (rt *runtimeState) adoptListener(key string) (net.Listener, error) {
	f := rt.inherited[key]
	if f == nil {
		return nil, nil
	}
	delete(rt.inherited, key)
	defer f.Close()
	return net.FileListener(f)
}

// closeInherited closes inherited sockets the configuration no longer has.
func (rt *runtimeState) closeInherited() {
	for k, f := range rt.inherited {
		_ = f.Close()
		delete(rt.inherited, k)
	}
}

// upgrade starts the new binary (SIGUSR2). Called on the goroutine
// running Run.
func (rt *runtimeState) upgrade(adminLn net.Listener) {
	if rt.upgradeChild.Load() {
		rt.log.Warn("a binary upgrade is already running: USR2 ignored")
		return
	}
	var files []*os.File
	var keys []string
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	add := func(key string, ln net.Listener) bool {
		fl, ok := ln.(interface{ File() (*os.File, error) })
		if !ok {
			return false
		}
		f, err := fl.File()
		if err != nil {
			rt.log.Error("upgrade: cannot hand over "+key, "err", err.Error())
			return false
		}
		files = append(files, f)
		keys = append(keys, key)
		return true
	}
	for key, l := range rt.listeners {
		l.mu.RLock()
		fd, err := unix.FcntlInt(uintptr(l.fd), unix.F_DUPFD_CLOEXEC, 0)
		l.mu.RUnlock()
		if err != nil {
			rt.log.Error("upgrade: cannot hand over "+key, "err", err.Error())
			return
		}
		files = append(files, os.NewFile(uintptr(fd), key))
		keys = append(keys, key)
	}
	if adminLn != nil && !add("admin "+adminLn.Addr().String(), adminLn) {
		return
	}
	pid := rt.cfg.Load().Pid
	oldbin := pid + ".oldbin"
	if pid != "" {
		if err := os.Rename(pid, oldbin); err != nil {
			rt.log.Error("upgrade: rename() "+strconv.Quote(pid)+" to "+strconv.Quote(oldbin)+" failed", "err", err.Error())
			return
		}
	}
	attr := &os.ProcAttr{
		Env:   append(os.Environ(), inheritEnv+"="+strings.Join(keys, ";")),
		Files: append([]*os.File{os.Stdin, os.Stdout, os.Stderr}, files...),
	}
	proc, err := os.StartProcess(startPath, os.Args, attr)
	if err != nil {
		rt.log.Error("upgrade: starting "+startPath+" failed", "err", err.Error())
		if pid != "" {
			_ = os.Rename(oldbin, pid)
		}
		return
	}
	rt.upgradeChild.Store(true)
	rt.log.Info("upgrade: started the new binary", "pid", proc.Pid, "path", startPath)
	go func() {
		st, _ := proc.Wait()
		rt.upgradeChild.Store(false)
		rt.log.Warn("upgrade: the new binary exited; this process goes on serving", "pid", proc.Pid, "status", st.String())
		// Take the pid file back if it is still ours under its old name.
		if pid != "" {
			if b, err := os.ReadFile(oldbin); err == nil && bytes.Equal(bytes.TrimSpace(b), []byte(strconv.Itoa(os.Getpid()))) {
				_ = os.Rename(oldbin, pid)
			}
		}
	}()
}

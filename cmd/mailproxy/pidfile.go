package main

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// pidFile is the "pid" directive's file as this process wrote it. Only the
// process whose pid the file holds may remove it: a second mailproxy
// started on the same config (it fails on bind) must leave the running
// one's file as it found it, so that "mailproxy -s reload" still reaches
// the running process. As nginx, serve writes it only after the listeners
// are bound (loop.Run's bound callback); release also leaves alone a file
// that another process rewrote since, and gives back a live process's pid
// that this one displaced (two instances on different ports, one pid path).
//
// Touched only by the goroutine running serve.
type pidFile struct {
	path string
	ours []byte // what we wrote
	prev []byte // what we overwrote, when it named another live process
}

// writePidFile writes our pid to path, remembering what it displaces.
func writePidFile(path string) (*pidFile, error) {
	p := &pidFile{path: path, ours: []byte(strconv.Itoa(os.Getpid()) + "\n")}
	if old, err := os.ReadFile(path); err == nil && otherLiveProcess(old) {
		p.prev = old
	}
	if err := os.WriteFile(path, p.ours, 0o644); err != nil {
		return nil, err
	}
	return p, nil
}

// release is the exit path: when the file still holds our pid, it gets back
// the live process's pid it held before, or is removed (nginx removes it at
// exit); when another process has written it since, it is left alone.
// Errors are ignored: after the "user" directive dropped root, the file's
// directory may no longer be writable, as with nginx's worker-owned paths.
func (p *pidFile) release() {
	// After a binary upgrade (USR2) this process's file is PID.oldbin.
	if old, err := os.ReadFile(p.path + ".oldbin"); err == nil && bytes.Equal(old, p.ours) {
		_ = os.Remove(p.path + ".oldbin")
	}
	cur, err := os.ReadFile(p.path)
	if err != nil || !bytes.Equal(cur, p.ours) {
		return
	}
	if p.prev != nil && otherLiveProcess(p.prev) {
		_ = os.WriteFile(p.path, p.prev, 0o644)
		return
	}
	_ = os.Remove(p.path)
}

// otherLiveProcess reports whether a pid file's content names a process
// that exists and is not this one (kill -0: EPERM means it exists).
func otherLiveProcess(content []byte) bool {
	pid, err := strconv.Atoi(string(bytes.TrimSpace(content)))
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

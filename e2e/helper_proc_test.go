package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startWait bounds how long a started server may take to accept on its port.
const startWait = 15 * time.Second

// freePort returns a loopback TCP port that was free a moment ago and that
// no other call of this test binary has returned: the kernel may hand the
// same ephemeral port to two listens in a row, and a config given it twice
// fails with "duplicate address and port pair".
func freePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("freePort: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, taken := freePorts.LoadOrStore(port, true); !taken {
			return port
		}
	}
	t.Fatal("freePort: no new port in 100 tries")
	return 0
}

// freePorts holds every port freePort has returned.
var freePorts sync.Map

// writeConf writes a config file into the test's temp dir and returns its path.
func writeConf(t testing.TB, text string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "mailproxy-*.conf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// syncBuffer is a bytes.Buffer safe for a child's stderr writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a server process started by a test (mailproxy, nginx, dovecot).
// It is killed at test end; on failure its output and error log are logged.
type proc struct {
	name     string
	cmd      *exec.Cmd
	PID      int
	out      *syncBuffer // stdout+stderr
	errorLog string      // error_log file parsed from the config, if any
	done     chan struct{}
	waitErr  error
	stopSig  syscall.Signal // 0: SIGINT for mailproxy and nginx (immediate stop), else SIGTERM
}

var (
	procListenRe   = regexp.MustCompile(`(?m)^\s*listen\s+(127\.0\.0\.1:\d+)`)
	procErrorLogRe = regexp.MustCompile(`(?m)^\s*error_log\s+(\S+)`)
)

// startProxy writes conf, starts mailproxy -c on it and waits until every
// listen address in conf accepts connections.
//
// With E2E_PROXY=nginx in the environment the same config runs under
// nginx's mail module instead: a way to check the tests themselves against
// the reference implementation (expect only the documented improvements,
// see nginxExpectedDiffs, to fail).
func startProxy(t testing.TB, conf string) *proc {
	t.Helper()
	if os.Getenv("E2E_PROXY") == "nginx" {
		return startNginx(t, conf)
	}
	path := writeConf(t, conf)
	p := startProc(t, "mailproxy", conf, mailproxyBin, "-c", path)
	return p
}

// startProc runs bin with args, waits for the listen addresses found in conf
// and registers the cleanup.
func startProc(t testing.TB, name, conf, bin string, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, name, conf, nil, bin, args...)
}

// startProcEnv is startProc with env added to the process's environment.
func startProcEnv(t testing.TB, name, conf string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	if m := procErrorLogRe.FindStringSubmatch(conf); m != nil {
		p.errorLog = strings.TrimSuffix(m[1], ";")
	}
	p.cmd = exec.Command(bin, args...)
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A daemon child that leaves the process group (setsid) may keep the
	// output pipe open after the process itself is gone: do not let Wait
	// block on it forever.
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p.PID = p.cmd.Process.Pid
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	var addrs []string
	for _, m := range procListenRe.FindAllStringSubmatch(conf, -1) {
		addrs = append(addrs, m[1])
	}
	for _, a := range addrs {
		p.waitPort(t, a)
	}
	return p
}

// waitPort polls addr until it accepts, the process exits, or startWait passes.
func (p *proc) waitPort(t testing.TB, addr string) {
	t.Helper()
	p.waitListen(t, "tcp", addr)
}

// waitListen is waitPort for any network ("tcp", "unix").
func (p *proc) waitListen(t testing.TB, network, addr string) {
	t.Helper()
	waitFor(t, startWait, func() bool {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return true
		}
		if !p.alive() {
			t.Fatalf("%s exited before listening on %s: %v\n%s", p.name, addr, p.waitErr, p.logs())
		}
		return false
	}, func() string {
		return fmt.Sprintf("%s does not accept on %s after %v\n%s", p.name, addr, startWait, p.logs())
	})
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// mustBeAlive fails the test when the process has exited.
func (p *proc) mustBeAlive(t testing.TB) {
	t.Helper()
	if !p.alive() {
		t.Fatalf("%s exited: %v\n%s", p.name, p.waitErr, p.logs())
	}
}

// logs returns the process output and its error_log, for failure messages.
func (p *proc) logs() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s output:\n%s", p.name, tail(p.out.String(), 8000))
	if p.errorLog != "" {
		data, err := os.ReadFile(p.errorLog)
		if err == nil {
			fmt.Fprintf(&b, "\n--- %s error_log %s:\n%s", p.name, p.errorLog, tail(string(data), 8000))
		}
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// stop terminates the process (stopSig, then KILL after 5 s) and logs its
// output when the test failed. SIGINT, not TERM: mailproxy drains on TERM
// (its documented choice), which would make every test wait for sessions.
func (p *proc) stop(t testing.TB) {
	if p.alive() {
		sig := p.stopSig
		if sig == 0 {
			sig = syscall.SIGTERM
			if p.name == "mailproxy" || p.name == "nginx" {
				sig = syscall.SIGINT
			}
		}
		_ = syscall.Kill(-p.PID, sig)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.PID, syscall.SIGKILL)
			<-p.done
		}
	}
	if t.Failed() {
		t.Logf("%s", p.logs())
	}
}

// memKB returns a field of /proc/PID/status in kB (VmRSS, VmHWM).
func (p *proc) memKB(t testing.TB, field string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.PID), "status"))
	if err != nil {
		t.Fatalf("read status of %s: %v", p.name, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, p.PID)
	return 0
}

// runProxyTest runs mailproxy -t -c path and returns its combined output and
// exit code.
func runProxyTest(t testing.TB, path string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, mailproxyBin, "-t", "-c", path).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mailproxy -t did not exit within 20s; output:\n%s", out)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("mailproxy -t: %v", err)
	}
	return string(out), 0
}

// imapConf renders a complete mailproxy config with one IMAP server on
// port, auth_http at authAddr, and extra directives inside mail{}.
func imapConf(t testing.TB, authAddr string, port int, extra string) string {
	t.Helper()
	dir := t.TempDir()
	return fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
pid %s/mailproxy.pid;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
%s
    server {
        listen 127.0.0.1:%d;
        protocol imap;
    }
}
`, dir, dir, authAddr, indent(extra, "    "), port)
}

func indent(s, pre string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

// procFDs counts the open file descriptors of process pid, leaving out
// its TCP sockets connected to peer ("127.0.0.1:PORT"; "" leaves out
// none): the kept-alive auth_http connections, whose number is the auth
// client's keepalive policy (per loop, per in-flight call), not a leak.
func procFDs(t testing.TB, pid int, peer string) int {
	t.Helper()
	skip := map[string]bool{}
	if peer != "" {
		for inode := range tcpInodesTo(t, pid, peer) {
			skip["socket:["+inode+"]"] = true
		}
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if link, err := os.Readlink(dir + "/" + e.Name()); err == nil && skip[link] {
			continue
		}
		n++
	}
	return n
}

// tcpInodesTo returns the socket inodes of pid's IPv4 TCP connections whose
// remote end is peer, from /proc/PID/net/tcp (addresses in hex, the IP in
// host byte order on little-endian machines: 127.0.0.1 is 0100007F).
func tcpInodesTo(t testing.TB, pid int, peer string) map[string]bool {
	t.Helper()
	host, port, err := net.SplitHostPort(peer)
	if err != nil {
		t.Fatal(err)
	}
	ip := net.ParseIP(host).To4()
	p, err := strconv.Atoi(port)
	if ip == nil || err != nil {
		t.Fatalf("peer %q: want an IPv4 host:port", peer)
	}
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], p)
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[2] == want {
			out[f[9]] = true
		}
	}
	return out
}

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestUpgradeWithoutDroppingSessions (issue 16, deliverable 5): logins
// looping and relayed sessions open through a USR2 upgrade to a rebuilt
// binary: no refused connection, no failed login, the pid file moves to
// pid.oldbin and the new process writes pid, and every session relayed
// by the old process still relays after it is told to QUIT. Then a new
// binary that fails to start leaves the running one serving, with its pid
// file back.
func TestUpgradeWithoutDroppingSessions(t *testing.T) {
	t.Parallel()
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	dir := t.TempDir()
	bin := filepath.Join(dir, "mailproxy")
	copyFile(t, mailproxyBin, bin)
	port, adminPort := freePort(t), freePort(t)
	sock := filepath.Join(dir, "imap.sock")
	pidPath := filepath.Join(dir, "mailproxy.pid")
	conf := fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
pid %s;
worker_shutdown_timeout 30s;
events {}
admin { listen 127.0.0.1:%d; }
mail {
    server_name mx.test;
    auth_http %s/auth;
    server {
        listen 127.0.0.1:%d;
        listen unix:%s;
        protocol imap;
    }
}
`, dir, pidPath, adminPort, auth.Addr, port, sock)
	path := writeConf(t, conf)
	old := startProc(t, "mailproxy", conf, bin, "-c", path)
	old.waitListen(t, "unix", sock)
	waitFor(t, 10*time.Second, func() bool { return readPid(pidPath) == old.PID }, func() string { return "the pid file" })

	// Sessions relayed by the old process.
	var relayed []*client
	for range 4 {
		c := dialIMAP(t, port)
		c.login("a1", "user", "pass")
		relayed = append(relayed, c)
	}

	// Logins in a loop through the switch, bounded in count and time.
	var logins, failed, refused atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				network, addr := "tcp", fmt.Sprintf("127.0.0.1:%d", port)
				if (w+i)%4 == 0 {
					network, addr = "unix", sock
				}
				if err := upgradeLogin(network, addr); err != nil {
					if strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "no such file") {
						refused.Add(1)
					} else {
						failed.Add(1)
					}
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				logins.Add(1)
			}
		}()
	}
	waitFor(t, 20*time.Second, func() bool { return logins.Load() >= 30 }, func() string { return "logins before the upgrade" })

	// A rebuilt binary at the path the old one was started from.
	rebuilt := filepath.Join(dir, "mailproxy.new")
	build := exec.Command("go", "build", "-ldflags", "-X mailproxy/loop.Version=9.9.9-upgrade", "-o", rebuilt, "./cmd/mailproxy")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Rename(rebuilt, bin); err != nil {
		t.Fatal(err)
	}
	if out, code := opsRun(t, "-s", "upgrade", "-c", path); code != 0 || out != "" {
		t.Fatalf("mailproxy -s upgrade: exit %d, %q", code, out)
	}
	var newPID int
	waitFor(t, 20*time.Second, func() bool {
		newPID = readPid(pidPath)
		return newPID != 0 && newPID != old.PID && readPid(pidPath+".oldbin") == old.PID
	}, func() string { return "pid file of the new process, pid.oldbin of the old one" })
	t.Cleanup(func() { _ = syscall.Kill(newPID, syscall.SIGKILL) })
	// The new process serves: logins it logged. (Both processes accept on
	// the same sockets, so which one a connection reaches is the kernel's
	// choice; the admin listener is checked once the old one has gone.)
	waitFor(t, 30*time.Second, func() bool {
		data, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return strings.Contains(string(data), fmt.Sprintf("%d#0: ", newPID)) &&
			strings.Contains(string(data), "client logged in") &&
			regexpLoggedIn(string(data), newPID)
	}, func() string { return "a login served by the new process" })
	before := logins.Load()
	waitFor(t, 20*time.Second, func() bool { return logins.Load() >= before+30 }, func() string { return "logins after the upgrade" })

	// The old process drains: its sessions keep relaying.
	if err := syscall.Kill(old.PID, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool {
		data, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return strings.Contains(string(data), fmt.Sprintf("%d#0: signal received, exiting, signal: quit", old.PID))
	}, func() string { return "the old process draining" })
	for i, c := range relayed {
		c.send(fmt.Sprintf("n%d NOOP\r\n", i))
		c.expect(fmt.Sprintf("n%d OK NOOP completed", i))
	}
	before = logins.Load()
	waitFor(t, 20*time.Second, func() bool { return logins.Load() >= before+30 }, func() string { return "logins while the old process drains" })
	for _, c := range relayed {
		c.c.Close()
	}
	select {
	case <-old.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the old process did not exit after its sessions ended")
	}
	// Now only the new binary holds the inherited admin listener.
	waitFor(t, 20*time.Second, func() bool { return strings.Contains(adminMetrics(adminPort), `version="9.9.9-upgrade"`) },
		func() string { return "the new binary answering on the inherited admin listener" })
	close(stop)
	wg.Wait()
	if f, r := failed.Load(), refused.Load(); f != 0 || r != 0 {
		t.Fatalf("%d failed and %d refused logins of %d through the upgrade; first: %v", f, r, logins.Load(), firstErr.Load())
	}
	if _, err := os.Stat(pidPath + ".oldbin"); !os.IsNotExist(err) {
		t.Fatalf("pid.oldbin left after the old process exited: %v", err)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the unix socket went with the old process: %v", err)
	}

	// A new binary that fails to start: the running one goes on.
	// (A running binary cannot be written over: a new file is renamed
	// over it, as package managers do.)
	if err := os.WriteFile(bin+".broken", []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".broken", bin); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(newPID, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool {
		data, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return strings.Contains(string(data), fmt.Sprintf("%d#0: upgrade: the new binary exited", newPID))
	}, func() string { return "the failed upgrade noticed" })
	waitFor(t, 10*time.Second, func() bool { return readPid(pidPath) == newPID }, func() string { return "the pid file back" })
	if err := upgradeLogin("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Fatalf("login after the failed upgrade: %v", err)
	}
}

// upgradeLogin logs in and out once, with bounded reads.
func upgradeLogin(network, addr string) error {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "a1 LOGIN user pass\r\na2 LOGOUT\r\n"); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if !strings.Contains(string(b), "a1 OK") || !strings.Contains(string(b), "a2 OK") {
		return fmt.Errorf("login transcript %q (%v)", b, err)
	}
	return nil
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func adminMetrics(port int) string {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// sdMessage is one sd_notify datagram and the pid that sent it.
type sdMessage struct {
	pid   int
	state string
}

// listenNotify is a NOTIFY_SOCKET as systemd has it, passing the sender's
// credentials.
func listenNotify(t *testing.T) (string, <-chan sdMessage) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc, _ := c.SyscallConn()
	_ = rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1) })
	ch := make(chan sdMessage, 64)
	go func() {
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		for {
			n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
			if err != nil {
				// Closed by the cleanup, or a failure to tell in the
				// test's message.
				ch <- sdMessage{state: "read error: " + err.Error()}
				return
			}
			m := sdMessage{state: string(buf[:n])}
			if msgs, err := syscall.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for _, cm := range msgs {
					if cred, err := syscall.ParseUnixCredentials(&cm); err == nil {
						m.pid = int(cred.Pid)
					}
				}
			}
			ch <- m
		}
	}()
	return path, ch
}

// nextNotify waits for the next datagram, bounded.
func nextNotify(t *testing.T, ch <-chan sdMessage) sdMessage {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(20 * time.Second):
		t.Fatalf("no sd_notify message within 20s (NOTIFY_SOCKET in this process: %q)", os.Getenv("NOTIFY_SOCKET"))
	}
	return sdMessage{}
}

// TestUpgradeTellsSystemd: under systemd (Type=notify, NotifyAccess=all)
// the service manager hears READY, RELOADING around a reload, the new
// main pid after an upgrade, and STOPPING only from the process that is
// the service, so the old process's exit does not stop it.
func TestUpgradeTellsSystemd(t *testing.T) {
	t.Parallel()
	path, ch := listenNotify(t)
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	dir := t.TempDir()
	bin := filepath.Join(dir, "mailproxy")
	copyFile(t, mailproxyBin, bin)
	port := freePort(t)
	pidPath := filepath.Join(dir, "mailproxy.pid")
	conf := fmt.Sprintf("error_log %s/error.log info;\npid %s;\nevents {}\nmail {\n    auth_http %s/auth;\n    server {\n        listen 127.0.0.1:%d;\n        protocol imap;\n    }\n}\n", dir, pidPath, auth.Addr, port)
	old := startProcEnv(t, "mailproxy", conf, []string{"NOTIFY_SOCKET=" + path}, bin, "-c", writeConf(t, conf))
	if m := nextNotify(t, ch); m.pid != old.PID || !strings.Contains(m.state, "READY=1") || !strings.Contains(m.state, "MAINPID="+strconv.Itoa(old.PID)) {
		t.Fatalf("first message %+v, want READY=1 and MAINPID=%d from %d", m, old.PID, old.PID)
	}
	_ = syscall.Kill(old.PID, syscall.SIGHUP)
	if m := nextNotify(t, ch); m.state != "RELOADING=1" {
		t.Fatalf("on HUP: %+v", m)
	}
	if m := nextNotify(t, ch); m.state != "READY=1" {
		t.Fatalf("after the reload: %+v", m)
	}
	_ = syscall.Kill(old.PID, syscall.SIGUSR2)
	m := nextNotify(t, ch)
	if m.pid == old.PID || !strings.Contains(m.state, "READY=1") || !strings.Contains(m.state, "MAINPID="+strconv.Itoa(m.pid)) {
		t.Fatalf("after USR2: %+v, want READY=1 and MAINPID from the new process", m)
	}
	newPID := m.pid
	t.Cleanup(func() { _ = syscall.Kill(newPID, syscall.SIGKILL) })
	_ = syscall.Kill(old.PID, syscall.SIGQUIT)
	<-old.done
	if err := upgradeLogin("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Fatalf("login after the old process left: %v", err)
	}
	_ = syscall.Kill(newPID, syscall.SIGQUIT)
	if m := nextNotify(t, ch); m.pid != newPID || m.state != "STOPPING=1" {
		t.Fatalf("the first message after the old process quit: %+v, want STOPPING=1 from %d only when it quits", m, newPID)
	}
}

// regexpLoggedIn reports whether the error log has a login served by pid.
func regexpLoggedIn(log string, pid int) bool {
	return regexp.MustCompile(`(?m)^\S+ \S+ \[info\] ` + strconv.Itoa(pid) + `#0: \*\d+ client logged in`).MatchString(log)
}

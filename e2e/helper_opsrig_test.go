package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Operations tests (issue 5): the admin listener and its metrics, reload,
// drain, log hygiene and log reopening, driven on the built binary the way
// an operator does it: signals, -s, curl-like scrapes, promtool.

// opsWait bounds every poll of an observable (a metric, a log line, an exit).
const opsWait = 15 * time.Second

// opsOpts shapes an opsRig's configuration.
type opsOpts struct {
	level    string // error_log level; "" is info
	shutdown string // worker_shutdown_timeout value; "" for none
	extra    string // directives inside mail{}
	events   string // directives inside events{}
}

// opsRig is mailproxy with an admin listener, an error_log file and a pid
// file, one IMAP listener (and, after a reload, maybe a second one), the
// test auth server and a fake IMAP backend.
type opsRig struct {
	auth     *authServer
	be       *fakeBackend
	p        *proc
	opts     opsOpts
	port     int    // the IMAP listener
	port2    int    // the optional second IMAP listener (see opsConf)
	admin    string // admin listener, host:port
	dir      string // holds error.log and mailproxy.pid
	confPath string // the file mailproxy -c reads, rewritten by reload tests
}

func newOpsRig(t testing.TB, o opsOpts) *opsRig {
	t.Helper()
	if o.level == "" {
		o.level = "info"
	}
	r := &opsRig{opts: o, dir: t.TempDir()}
	r.be = startBackend(t, backendOpts{})
	r.auth = startAuth(t, userAuth(r.be.Port))
	r.port = freePort(t)
	r.port2 = freePort(t)
	r.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r.p = startProxy(t, r.conf(false, ""))
	r.confPath = r.p.cmd.Args[len(r.p.cmd.Args)-1]
	return r
}

// conf renders the rig's configuration; second adds the listener on port2
// and more goes inside mail{} after the rig's own extra directives. The
// admin block spans lines so that startProxy also waits for it.
func (r *opsRig) conf(second bool, more string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "worker_processes 2;\nerror_log %s %s;\npid %s;\n",
		r.errorLog(), r.opts.level, r.pidFile())
	if r.opts.shutdown != "" {
		fmt.Fprintf(&b, "worker_shutdown_timeout %s;\n", r.opts.shutdown)
	}
	fmt.Fprintf(&b, "events {%s}\nadmin {\n    listen %s;\n}\n", r.opts.events, r.admin)
	fmt.Fprintf(&b, "mail {\n    server_name mx.test;\n    auth_http %s/auth;\n", r.auth.Addr)
	if x := indent(r.opts.extra+"\n"+more, "    "); strings.TrimSpace(x) != "" {
		b.WriteString(x + "\n")
	}
	fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        protocol imap;\n    }\n", r.port)
	if second {
		fmt.Fprintf(&b, "    server {\n        listen 127.0.0.1:%d;\n        protocol imap;\n    }\n", r.port2)
	}
	b.WriteString("}\n")
	return b.String()
}

func (r *opsRig) errorLog() string { return filepath.Join(r.dir, "error.log") }
func (r *opsRig) pidFile() string  { return filepath.Join(r.dir, "mailproxy.pid") }

// rewrite replaces the configuration file mailproxy reads on reload.
func (r *opsRig) rewrite(t testing.TB, text string) {
	t.Helper()
	if err := os.WriteFile(r.confPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// signal sends sig to the mailproxy process.
func (r *opsRig) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(r.p.PID, sig); err != nil {
		t.Fatalf("kill(%d, %v): %v", r.p.PID, sig, err)
	}
}

// waitExit waits (bounded) for the process to exit and returns its exit code.
func (r *opsRig) waitExit(t testing.TB) int {
	t.Helper()
	select {
	case <-r.p.done:
	case <-time.After(opsWait):
		t.Fatalf("mailproxy still running %v after the signal\n%s", opsWait, r.p.logs())
	}
	var ee *exec.ExitError
	switch err := r.p.waitErr; {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		t.Fatalf("wait: %v", err)
		return -1
	}
}

// opsHTTP is the admin client; each request is bounded.
var opsHTTP = &http.Client{Timeout: 10 * time.Second}

// get fetches an admin path and returns the status code and body.
func (r *opsRig) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := opsHTTP.Get("http://" + r.admin + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// scrape returns /metrics, parsed.
func (r *opsRig) scrape(t testing.TB) opsMetrics {
	t.Helper()
	code, body := r.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: status %d\n%s", code, body)
	}
	return opsParse(t, body)
}

// waitMetrics polls /metrics until ok accepts a scrape, and returns it.
func (r *opsRig) waitMetrics(t testing.TB, what string, ok func(opsMetrics) bool) opsMetrics {
	t.Helper()
	var m opsMetrics
	waitFor(t, opsWait, func() bool {
		if m = r.scrape(t); ok(m) {
			return true
		}
		r.p.mustBeAlive(t)
		return false
	}, func() string {
		return fmt.Sprintf("metrics: %s not reached within %v; last scrape:\n%s", what, opsWait, m.grep("mailproxy_"))
	})
	return m
}

// waitLog polls the error log until it contains n lines holding substr.
func (r *opsRig) waitLog(t testing.TB, substr string, n int) string {
	t.Helper()
	var data []byte
	waitFor(t, opsWait, func() bool {
		data, _ = os.ReadFile(r.errorLog())
		return strings.Count(string(data), substr) >= n
	}, func() string {
		return fmt.Sprintf("error log has %d lines with %q, want %d, after %v:\n%s",
			strings.Count(string(data), substr), substr, n, opsWait, tail(string(data), 4000))
	})
	return string(data)
}

// opsLoginLine is the fake backend's answer to LOGIN, relayed by the proxy.
const opsLoginLine = "OK [CAPABILITY IMAP4rev1] Logged in"

// opsLogin does one whole IMAP session (greeting, LOGIN, LOGOUT) without
// touching testing.T, so that worker goroutines can run it.
func opsLogin(port int, user, pass string) error {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), ioWait)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(ioWait))
	r := bufio.NewReader(c)
	expect := func(want string) error {
		l, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("want %q: %v (got %q)", want, err, l)
		}
		if got := strings.TrimSuffix(l, "\r\n"); got != want {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	}
	steps := []struct{ send, want string }{
		{"", "* OK IMAP4 ready"},
		{"a1 LOGIN " + user + " " + pass + "\r\n", "a1 " + opsLoginLine},
		{"a2 LOGOUT\r\n", "* BYE fake backend logging out"},
		{"", "a2 OK LOGOUT completed"},
	}
	for _, s := range steps {
		if s.send != "" {
			if _, err := io.WriteString(c, s.send); err != nil {
				return err
			}
		}
		if err := expect(s.want); err != nil {
			return err
		}
	}
	if b, err := r.ReadByte(); err == nil {
		return fmt.Errorf("want close after LOGOUT, got %q", b)
	}
	return nil
}

// opsCounter wraps the line client and counts the bytes each way once the
// session is relayed, to be compared with mailproxy_relay_bytes_total.
type opsCounter struct {
	c                   *client
	toBackend, toClient int
}

func (o *opsCounter) send(s string) {
	o.toBackend += len(s)
	o.c.send(s)
}

func (o *opsCounter) expect(want ...string) {
	o.c.t.Helper()
	for _, w := range want {
		o.toClient += len(w) + 2
	}
	o.c.expect(want...)
}

// relayedSession logs in on port and returns the client, in relay.
func relayedSession(t testing.TB, port int) *client {
	t.Helper()
	c := dialIMAP(t, port)
	c.login("r1", "user", "pass")
	return c
}

// echoWorks checks that a relayed session still reaches its backend.
func echoWorks(c *client, tag, text string) {
	c.t.Helper()
	c.send(tag + " ECHO " + text + "\r\n")
	c.expect("* ECHO "+text, tag+" OK ECHO completed")
}

// newOpsRigListen is newOpsRig with parameters after the IMAP listen
// address (" proxy_protocol").
func newOpsRigListen(t testing.TB, o opsOpts, params string) *opsRig {
	t.Helper()
	if params == "" {
		return newOpsRig(t, o)
	}
	if o.level == "" {
		o.level = "info"
	}
	r := &opsRig{opts: o, dir: t.TempDir()}
	r.be = startBackend(t, backendOpts{})
	r.auth = startAuth(t, userAuth(r.be.Port))
	r.port = freePort(t)
	r.port2 = freePort(t)
	r.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := strings.Replace(r.conf(false, ""), "listen 127.0.0.1:"+strconv.Itoa(r.port)+";",
		"listen 127.0.0.1:"+strconv.Itoa(r.port)+params+";", 1)
	// startProxy probes the listen address with a bare TCP connect, which a
	// PROXY listener answers by closing: harmless.
	r.p = startProxy(t, conf)
	r.confPath = r.p.cmd.Args[len(r.p.cmd.Args)-1]
	return r
}

// opsLoad runs IMAP logins from several goroutines until stopped, bounded
// in count and in time, and remembers every failure.
type opsLoad struct {
	ok, failed atomic.Int64
	stop       chan struct{}
	wg         sync.WaitGroup
	mu         sync.Mutex
	errs       []string
}

// opsStartLoad starts workers logging in on port; each stops after
// perWorker logins, after limit, or when end is called.
func opsStartLoad(port, workers, perWorker int, limit time.Duration) *opsLoad {
	l := &opsLoad{stop: make(chan struct{})}
	deadline := time.Now().Add(limit)
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; i < perWorker && time.Now().Before(deadline); i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if err := opsLogin(port, fmt.Sprintf("w%d", w), "pass"); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 20 {
						l.errs = append(l.errs, fmt.Sprintf("worker %d login %d: %v", w, i, err))
					}
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	return l
}

// waitMore waits until n more logins have succeeded, so that each reload
// lands in the middle of traffic.
func (l *opsLoad) waitMore(t testing.TB, n int64) {
	t.Helper()
	target := l.ok.Load() + n
	waitFor(t, opsWait, func() bool { return l.ok.Load() >= target }, func() string {
		return fmt.Sprintf("load: %d logins ok, %d failed; want %d ok within %v (workers done?)", l.ok.Load(), l.failed.Load(), target, opsWait)
	})
}

// end stops the workers and fails the test on any failed login.
func (l *opsLoad) end(t testing.TB) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if n := l.failed.Load(); n > 0 {
		t.Fatalf("%d of %d logins failed during reloads:\n%s", n, n+l.ok.Load(), strings.Join(l.errs, "\n"))
	}
	t.Logf("%d logins, none failed", l.ok.Load())
}

// opsRun runs the mailproxy binary with args (bounded) and returns its
// combined output and exit code.
func opsRun(t testing.TB, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, mailproxyBin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mailproxy %v did not exit within 20s; output:\n%s", args, out)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("mailproxy %v: %v", args, err)
	}
	return string(out), 0
}

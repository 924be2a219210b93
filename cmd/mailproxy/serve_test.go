package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// freeAddr returns a loopback address nothing listens on (the port of a
// listener just closed).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServePidFile starts the binary on a loopback port, waits for the
// engine's "listening" log line, checks the pid file and the IMAP greeting,
// then reloads it and stops it with "-s reload" / "-s quit" (which find the
// process through the pid file) and checks the pid file is gone.
func TestServePidFile(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	pid := filepath.Join(dir, "mailproxy.pid")
	conf := writeConf(t, "pid "+pid+";\nerror_log stderr info;\nworker_processes 1;\n"+
		"mail {\n auth_http 127.0.0.1:9/auth;\n server { listen "+addr+"; protocol imap; }\n}\n")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "-c", conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), "listening") {
			break
		}
	}
	reloaded := make(chan struct{})
	drained := make(chan struct{})
	go func() { // keep the pipe drained; ends at EOF when the process exits
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "configuration reloaded") {
				once = true
				close(reloaded)
			}
		}
		close(drained)
	}()
	data, err := os.ReadFile(pid)
	if err != nil {
		t.Fatalf("pid file: %v (log: %q)", err, seen)
	}
	if strings.TrimSpace(string(data)) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("pid file holds %q, process is %d", data, cmd.Process.Pid)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	greet, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || !strings.HasPrefix(greet, "* OK") {
		t.Fatalf("greeting %q, %v", greet, err)
	}
	ctl := func(sig string) {
		t.Helper()
		out, err := exec.Command(binPath, "-c", conf, "-s", sig).CombinedOutput()
		if err != nil || len(out) != 0 {
			t.Fatalf("-s %s: %v %q", sig, err, out)
		}
	}
	ctl("reload")
	select {
	case <-reloaded:
	case <-ctx.Done():
		t.Fatal("no \"configuration reloaded\" line after -s reload")
	}
	ctl("quit")
	<-drained // all reads done before Wait, as os/exec requires
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after TERM: %v", err)
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Fatalf("pid file left behind: %v", err)
	}
}

// TestServeRlimitNofile starts the binary under a 256-descriptor limit
// with worker_rlimit_nofile 1000: either the limit is raised (root with
// CAP_SYS_RESOURCE) or, as nginx does, an alert line says it was not.
func TestServeRlimitNofile(t *testing.T) {
	addr := freeAddr(t)
	conf := writeConf(t, "worker_rlimit_nofile 1000;\nerror_log stderr info;\nworker_processes 1;\n"+
		"mail {\n auth_http 127.0.0.1:9/auth;\n server { listen "+addr+"; protocol imap; }\n}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -n 256 && exec "$0" -c "$1"`, binPath, conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(stderr)
	alert := ""
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), "setrlimit(RLIMIT_NOFILE, 1000) failed") {
			alert = sc.Text()
		}
		if strings.Contains(sc.Text(), "listening") {
			break
		}
	}
	go func() { // keep the pipe drained
		for sc.Scan() {
		}
	}()
	limits, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	var soft string
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			soft = strings.Fields(line)[3]
		}
	}
	switch {
	case soft == "1000" && alert == "":
		// raised
	case soft == "256" && strings.Contains(alert, "[alert]"):
		// not permitted here, and said so at nginx's level
	default:
		t.Fatalf("open files limit %q, alert %q; log: %q", soft, alert, seen)
	}
}

// TestServeGOMAXPROCS: one P per event loop, two at least, unless the
// environment sets GOMAXPROCS (also below the CPU count: worker_processes
// says how many cores mailproxy uses).
func TestServeGOMAXPROCS(t *testing.T) {
	f := func(env string, loops, want int) {
		t.Helper()
		body, log := "", ""
		// Ports come from the kernel's ephemeral range, which the other
		// test packages running at the same time also use: a start that
		// fails to bind is retried on new ports.
		for attempt := 0; attempt < 3; attempt++ {
			var inUse bool
			body, log, inUse = scrapeGOMAXPROCS(t, env, loops)
			if !inUse {
				break
			}
		}
		line := fmt.Sprintf("go_gomaxprocs %d\n", want)
		if !strings.Contains(body, "\n"+line) {
			t.Errorf("GOMAXPROCS=%q, %d loops: want %q in /metrics, got:\n%s\nlog:\n%s", env, loops, line, body, log)
		}
	}
	ncpu := runtime.NumCPU()
	f("", ncpu, max(2, ncpu))
	f("", 1, 2)
	f("", 3, 3)
	f("1", ncpu, 1)
}

// TestServeGCHeapFloor: the collector's next goal, as /metrics shows it,
// is at least gc_heap_floor (default 32m) from the start; off leaves Go's
// own small first goal; GOGC=off leaves the collector off.
func TestServeGCHeapFloor(t *testing.T) {
	const mib = 1 << 20
	nextGC := func(body string) uint64 {
		m := regexp.MustCompile(`(?m)^go_memstats_next_gc_bytes (\d+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no go_memstats_next_gc_bytes in /metrics:\n%s", body)
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		return n
	}
	// f starts mailproxy, keeps it allocating (concurrent /metrics scrapes:
	// tens of MiB a second, like a login load) for 1.5 s, checks the heap
	// goal, then, if quiet is set, leaves it quiet for 2.5 s and checks
	// the goal again.
	f := func(env []string, head string, busy func(next uint64) bool, wantBusy string, quiet func(next uint64) bool, wantQuiet string) {
		t.Helper()
		for attempt := 0; attempt < 3; attempt++ {
			log, inUse := withMailproxy(t, env, head, func(get func() string) {
				var wg sync.WaitGroup
				stop := time.Now().Add(1500 * time.Millisecond)
				for i := 0; i < 4; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for time.Now().Before(stop) {
							get()
						}
					}()
				}
				wg.Wait()
				if n := nextGC(get()); !busy(n) {
					t.Errorf("%q %q: while allocating, next GC at %d bytes, want %s", env, head, n, wantBusy)
				}
				if quiet == nil {
					return
				}
				time.Sleep(2500 * time.Millisecond)
				if n := nextGC(get()); !quiet(n) {
					t.Errorf("%q %q: quiet for 2.5 s, next GC at %d bytes, want %s", env, head, n, wantQuiet)
				}
			})
			if !inUse {
				if t.Failed() {
					t.Logf("log:\n%s", log)
				}
				return
			}
		}
	}
	small := func(n uint64) bool { return n < 16*mib }
	f(nil, "", func(n uint64) bool { return n >= 32*mib }, "≥ 32 MiB (the default floor)", small, "GOGC's goal again (under 16 MiB)")
	f(nil, "gc_heap_floor 64m;\n", func(n uint64) bool { return n >= 64*mib }, "≥ 64 MiB", small, "GOGC's goal again (under 16 MiB)")
	f(nil, "gc_heap_floor off;\n", small, "Go's own goal (4 MiB and a little)", nil, "")
	f([]string{"GOGC=400"}, "gc_heap_floor off;\n", func(n uint64) bool { return n >= 16*mib && n < 32*mib }, "GOGC=400's goal (16 MiB and a little)", nil, "")
}

// scrapeGOMAXPROCS starts mailproxy with the given GOMAXPROCS environment
// and loop count and returns its first /metrics body and its log; inUse
// says it exited because a port was taken.
func scrapeGOMAXPROCS(t *testing.T, env string, loops int) (body, log string, inUse bool) {
	t.Helper()
	return scrapeMetrics(t, []string{"GOMAXPROCS=" + env}, fmt.Sprintf("worker_processes %d;\n", loops)) // "" counts as unset
}

// scrapeMetrics starts mailproxy with env added to the environment and
// main-context directives head, and returns its first /metrics body and
// its log; inUse says it exited because a port was taken.
func scrapeMetrics(t *testing.T, env []string, head string) (body, log string, inUse bool) {
	t.Helper()
	log, inUse = withMailproxy(t, env, head, func(get func() string) { body = get() })
	return body, log, inUse
}

// withMailproxy starts mailproxy with env added to the environment and
// main-context directives head, waits for its admin listener and calls fn
// with a function that returns a /metrics body; it returns the log and
// whether the process exited because a port was taken.
func withMailproxy(t *testing.T, env []string, head string, fn func(get func() string)) (log string, inUse bool) {
	t.Helper()
	admin := freeAddr(t)
	conf := writeConf(t, fmt.Sprintf("%serror_log stderr info;\nadmin { listen %s; }\n"+
		"mail {\n auth_http 127.0.0.1:9/auth;\n server { listen %s; protocol imap; }\n}\n", head, admin, freeAddr(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "-c", conf)
	cmd.Env = append(os.Environ(), env...)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() { cmd.Process.Kill(); <-exited }()
	get := func() (string, error) {
		resp, err := http.Get("http://" + admin + "/metrics")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			log = stderr.String()
			return log, strings.Contains(log, "address already in use")
		default:
		}
		if _, err := get(); err != nil {
			continue
		}
		fn(func() string {
			b, err := get()
			if err != nil {
				t.Errorf("/metrics: %v", err)
			}
			return b
		})
		return stderr.String(), false
	}
	t.Errorf("no /metrics within 10 s; log:\n%s", stderr.String())
	return stderr.String(), false
}

// lockedBuffer is a bytes.Buffer a child's stderr copier and the test may
// use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

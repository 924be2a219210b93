package e2e

import (
	"bufio"
	"bytes"
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
	deadline := time.Now().Add(opsWait)
	for {
		m := r.scrape(t)
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics: %s not reached within %v; last scrape:\n%s", what, opsWait, m.grep("mailproxy_"))
		}
		r.p.mustBeAlive(t)
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by deadline
	}
}

// waitLog polls the error log until it contains n lines holding substr.
func (r *opsRig) waitLog(t testing.TB, substr string, n int) string {
	t.Helper()
	deadline := time.Now().Add(opsWait)
	for {
		data, _ := os.ReadFile(r.errorLog())
		if strings.Count(string(data), substr) >= n {
			return string(data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("error log has %d lines with %q, want %d, after %v:\n%s",
				strings.Count(string(data), substr), substr, n, opsWait, tail(string(data), 4000))
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by deadline
	}
}

// opsSample is one line of the Prometheus text format.
type opsSample struct {
	name   string
	labels map[string]string
	value  float64
	line   string
}

// opsMetrics is a parsed scrape, with its text.
type opsMetrics struct {
	text    string
	samples []opsSample
}

// opsParse parses the Prometheus text format (0.0.4) strictly enough for
// the tests; promtool does the full lint.
func opsParse(t testing.TB, text string) opsMetrics {
	t.Helper()
	m := opsMetrics{text: text}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := opsParseLine(line)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m.samples = append(m.samples, s)
	}
	return m
}

func opsParseLine(line string) (opsSample, error) {
	s := opsSample{labels: map[string]string{}, line: line}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no name")
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq <= 0 {
				return s, fmt.Errorf("bad label at %q", rest)
			}
			key := rest[:eq]
			rest = rest[eq+2:]
			var v strings.Builder
			for {
				if rest == "" {
					return s, fmt.Errorf("unterminated label value")
				}
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				if c == '\\' && rest != "" {
					switch rest[0] {
					case 'n':
						v.WriteByte('\n')
					default:
						v.WriteByte(rest[0])
					}
					rest = rest[1:]
					continue
				}
				v.WriteByte(c)
			}
			s.labels[key] = v.String()
			rest = strings.TrimPrefix(rest, ",")
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return s, fmt.Errorf("want value [timestamp], got %q", rest)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

// sum adds up the samples named name whose labels include kv (pairs of
// label name and value); found is false when none matches.
func (m opsMetrics) sum(name string, kv ...string) (total float64, found bool) {
	for _, s := range m.samples {
		if s.name != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			if s.labels[kv[i]] != kv[i+1] {
				match = false
				break
			}
		}
		if match {
			total += s.value
			found = true
		}
	}
	return total, found
}

// val is sum that fails the test when no sample matches.
func (m opsMetrics) val(t testing.TB, name string, kv ...string) float64 {
	t.Helper()
	v, ok := m.sum(name, kv...)
	if !ok {
		t.Fatalf("no sample %s%v in scrape:\n%s", name, kv, m.grep("mailproxy_"))
	}
	return v
}

// grep returns the scrape's lines containing substr.
func (m opsMetrics) grep(substr string) string {
	var b strings.Builder
	for _, l := range strings.Split(m.text, "\n") {
		if strings.Contains(l, substr) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
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

func TestOpsMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed (scripts/test.sh installs package prometheus)")
	}
	r := newOpsRig(t, opsOpts{extra: "timeout 2s;\nmax_errors 3;"})
	lbl := []string{"protocol", "imap", "listener", fmt.Sprintf("127.0.0.1:%d", r.port)}

	const logins, wrong = 5, 3
	var toBackend, toClient int
	for i := range logins {
		c := &opsCounter{c: dialIMAP(t, r.port)}
		c.c.login("a1", "user", "pass")
		c.send(fmt.Sprintf("a2 ECHO hello-%d\r\n", i))
		c.expect(fmt.Sprintf("* ECHO hello-%d", i), "a2 OK ECHO completed")
		c.send("a3 NOOP\r\n")
		c.expect("a3 OK NOOP completed")
		c.send("a4 LOGOUT\r\n")
		c.expect("* BYE fake backend logging out", "a4 OK LOGOUT completed")
		c.c.expectEOF()
		toBackend += c.toBackend
		toClient += c.toClient
	}
	for i := range wrong {
		c := dialIMAP(t, r.port)
		c.send(fmt.Sprintf("a1 LOGIN bad wrong%d\r\n", i))
		c.expect("a1 NO Invalid login or password")
		c.expectEOF()
	}
	// Two invalid commands, then a polite LOGOUT; then max_errors (3).
	c := dialIMAP(t, r.port)
	c.send("x1 FOO\r\n")
	c.expect("x1 BAD invalid command")
	c.send("x+ NOOP\r\n")
	c.expect("* BAD invalid command")
	c.send("x2 LOGOUT\r\n")
	c.expect("* BYE", "x2 OK completed")
	c.expectEOF()
	c = dialIMAP(t, r.port)
	for i := range 3 {
		c.send(fmt.Sprintf("y%d FOO\r\n", i))
		c.expect(fmt.Sprintf("y%d BAD invalid command", i))
	}
	c.expectEOF()
	// One client that says nothing: closed by "timeout 2s" in pre-auth.
	c = dialIMAP(t, r.port)
	c.expectEOF()

	// startProxy's readiness probe is one more accepted connection.
	accepted := float64(1 + logins + wrong + 3)
	m := r.waitMetrics(t, "all sessions closed", func(m opsMetrics) bool {
		cur, _ := m.sum("mailproxy_connections_current")
		acc, _ := m.sum("mailproxy_connections_accepted_total")
		dur, _ := m.sum("mailproxy_session_duration_seconds_count")
		return cur == 0 && acc >= accepted && dur >= logins
	})
	m = r.scrape(t) // not a snapshot: take one that starts after all of it
	f := func(want float64, name string, kv ...string) {
		t.Helper()
		if got := m.val(t, name, append(append([]string(nil), lbl...), kv...)...); got != want {
			t.Errorf("%s%v = %v, want %v", name, kv, got, want)
		}
	}
	f(accepted, "mailproxy_connections_accepted_total")
	f(0, "mailproxy_connections_rejected_total")
	f(0, "mailproxy_connections_current", "phase", "pre_auth")
	f(0, "mailproxy_connections_current", "phase", "relay")
	f(logins, "mailproxy_auth_http_requests_total", "result", "ok")
	f(wrong, "mailproxy_auth_http_requests_total", "result", "fail")
	f(0, "mailproxy_auth_http_requests_total", "result", "error")
	f(0, "mailproxy_auth_http_requests_total", "result", "timeout")
	f(logins+wrong, "mailproxy_auth_http_request_duration_seconds_count")
	f(logins+wrong, "mailproxy_auth_http_request_duration_seconds_bucket", "le", "+Inf")
	f(logins, "mailproxy_backend_connect_duration_seconds_count")
	f(0, "mailproxy_backend_connect_errors_total")
	f(logins, "mailproxy_sessions_established_total")
	f(logins, "mailproxy_session_duration_seconds_count")
	f(float64(toBackend), "mailproxy_relay_bytes_total", "direction", "to_backend")
	f(float64(toClient), "mailproxy_relay_bytes_total", "direction", "to_client")
	f(5, "mailproxy_commands_invalid_total")
	f(1, "mailproxy_connections_max_errors_closed_total")
	f(1, "mailproxy_timeouts_total", "phase", "pre_auth")
	f(0, "mailproxy_timeouts_total", "phase", "relay")
	f(0, "mailproxy_tls_handshakes_total")

	// Sequential logins share one kept-alive auth_http connection.
	if v := m.val(t, "mailproxy_auth_http_connections_opened_total", "endpoint", r.auth.Addr); v != 1 {
		t.Errorf("auth_http connections opened = %v for %d sequential requests, want 1 (keepalive)", v, logins+wrong)
	}
	g := func(want float64, name string, kv ...string) {
		t.Helper()
		if got := m.val(t, name, kv...); got != want {
			t.Errorf("%s%v = %v, want %v", name, kv, got, want)
		}
	}
	g(0, "mailproxy_config_reloads_total")
	g(1, "mailproxy_config_last_reload_successful")
	g(1, "mailproxy_build_info")
	m.val(t, "go_goroutines")
	m.val(t, "process_open_fds")
	m.val(t, "process_resident_memory_bytes")

	// Labels stay bounded: never a user, a client address or a port of one.
	allowed := map[string]bool{"protocol": true, "listener": true, "phase": true, "reason": true,
		"result": true, "direction": true, "type": true, "endpoint": true, "le": true,
		"version": true, "goversion": true}
	for _, s := range m.samples {
		if !strings.HasPrefix(s.name, "mailproxy_") {
			continue
		}
		for k := range s.labels {
			if !allowed[k] {
				t.Errorf("unexpected label %q in %s", k, s.line)
			}
		}
		if strings.Contains(s.line, `"user"`) || strings.Contains(s.line, "wrong") {
			t.Errorf("a login leaked into a label: %s", s.line)
		}
	}

	// The exposition passes promtool's lint with nothing to say.
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(m.text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// One "session done" line per finished session, with what the issue lists.
	log := r.waitLog(t, "session done", int(accepted))
	for _, want := range []string{
		`login: "user"`, fmt.Sprintf("upstream: 127.0.0.1:%d", r.be.Port), "protocol: imap",
		fmt.Sprintf("listener: 127.0.0.1:%d", r.port), "client: 127.0.0.1",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("error log has no %q:\n%s", want, tail(log, 3000))
		}
	}
}

func TestOpsReadyzDuringDrain(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{shutdown: "30s"})
	f := func(path string, want int) {
		t.Helper()
		if code, body := r.get(t, path); code != want {
			t.Fatalf("GET %s: %d %q, want %d", path, code, body, want)
		}
	}
	f("/livez", 200)
	f("/readyz", 200)
	f("/nosuch", 404)
	c := relayedSession(t, r.port)
	r.signal(t, syscall.SIGTERM)
	deadline := time.Now().Add(opsWait)
	for {
		code, _ := r.get(t, "/readyz")
		if code == 503 {
			break
		}
		if code != 200 || time.Now().After(deadline) {
			t.Fatalf("GET /readyz after TERM: %d, want 200 then 503 within %v", code, opsWait)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, bounded by deadline
	}
	f("/livez", 200)
	// The relayed session holds the drain open; it still works.
	echoWorks(c, "r2", "draining")
	f("/readyz", 503)
	c.send("r3 LOGOUT\r\n")
	c.expect("* BYE fake backend logging out", "r3 OK LOGOUT completed")
	c.expectEOF()
	if code := r.waitExit(t); code != 0 {
		t.Fatalf("exit code %d after drain, want 0\n%s", code, r.p.logs())
	}
}

// TestOpsMetricsFailures drives the failure counters: worker_connections
// reached, auth_http broken, backend refusing, proxy_timeout.
func TestOpsMetricsFailures(t *testing.T) {
	t.Parallel()
	r := newOpsRig(t, opsOpts{events: " worker_connections 3; ", extra: "proxy_timeout 1s;"})
	lbl := []string{"protocol", "imap", "listener", fmt.Sprintf("127.0.0.1:%d", r.port)}
	closed := freePort(t) // nothing listens there
	base := userAuth(r.be.Port)
	r.auth.setHandler(func(q *authReq) string {
		switch q.get("Auth-User") {
		case "refused":
			return authOK(closed)
		}
		return base(q)
	})
	idle := func(m opsMetrics) bool { v, _ := m.sum("mailproxy_connections_current"); return v == 0 }

	// worker_connections 3: the fourth client is closed at accept.
	var held []*client
	for range 3 {
		held = append(held, dialIMAP(t, r.port))
	}
	c := dial(t, r.port)
	c.expectEOF()
	for _, h := range held {
		h.c.Close()
	}
	r.waitMetrics(t, "held clients closed", idle)

	// auth_http closes without answering (twice: the keepalive retry).
	c = dialIMAP(t, r.port)
	c.send("a1 LOGIN close secret\r\n")
	c.expect("* BAD internal server error")
	c.expectEOF()
	// The backend refuses the connection.
	c = dialIMAP(t, r.port)
	c.send("a1 LOGIN refused secret\r\n")
	c.expect("* BAD internal server error")
	c.expectEOF()
	// A relayed session that stays silent past proxy_timeout.
	c = relayedSession(t, r.port)
	c.expectEOF()

	r.waitMetrics(t, "all closed", func(m opsMetrics) bool {
		v, _ := m.sum("mailproxy_timeouts_total", "phase", "relay")
		return idle(m) && v == 1
	})
	m := r.scrape(t)
	f := func(want float64, name string, kv ...string) {
		t.Helper()
		if got := m.val(t, name, append(append([]string(nil), lbl...), kv...)...); got != want {
			t.Errorf("%s%v = %v, want %v", name, kv, got, want)
		}
	}
	f(1, "mailproxy_connections_rejected_total", "reason", "limit")
	f(1, "mailproxy_connections_rejected_total")
	f(1, "mailproxy_auth_http_requests_total", "result", "error")
	f(2, "mailproxy_auth_http_requests_total", "result", "ok")
	f(1, "mailproxy_backend_connect_errors_total", "type", "refused")
	f(1, "mailproxy_backend_connect_errors_total")
	f(1, "mailproxy_backend_connect_duration_seconds_count")
	f(1, "mailproxy_sessions_established_total")
	f(1, "mailproxy_timeouts_total", "phase", "relay")
	f(1, "mailproxy_timeouts_total")
	log := r.waitLog(t, "session done", 3+1+3)
	for _, want := range []string{"reason: proxy_timeout", "worker_connections are not enough"} {
		if !strings.Contains(log, want) {
			t.Errorf("error log has no %q:\n%s", want, tail(log, 3000))
		}
	}
}

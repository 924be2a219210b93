package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// error_log syslog:... (issue 12): a syslog server played by the test
// receives what nginx 1.22 would send it, byte for byte in the parts that
// do not vary (PRI, header layout, host name, tag, level, "PID#0: *N").

// syslogWait bounds how long a test waits for a datagram that must come.
const syslogWait = 10 * time.Second

// syslogRe splits a datagram: PRI, header time, host (with its space,
// empty with nohostname), tag, then the error_log line's time, level, pid,
// tid and message.
var syslogRe = regexp.MustCompile(`^<(\d+)>([A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d) (\S* )?(\w*): (\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(\w+)\] (\d+)#(\d+): (.*)$`)

// syslogListener is a UDP or unix datagram socket that records datagrams.
type syslogListener struct {
	pc   net.PacketConn
	Addr string // "127.0.0.1:port" or the socket path
	seen []string
}

func listenSyslog(t testing.TB, network, addr string) *syslogListener {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatalf("listen %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	return &syslogListener{pc: pc, Addr: pc.LocalAddr().String()}
}

// until reads datagrams until one contains marker and returns all of them
// read since the last call, the one with the marker last.
func (l *syslogListener) until(t testing.TB, marker string) []string {
	t.Helper()
	buf := make([]byte, 65536)
	start := len(l.seen)
	for {
		l.pc.SetReadDeadline(time.Now().Add(syslogWait))
		n, _, err := l.pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("syslog %s: no datagram with %q: %v; got:\n%s", l.Addr, marker, err, strings.Join(l.seen[start:], "\n"))
		}
		d := string(buf[:n])
		l.seen = append(l.seen, d)
		if strings.Contains(d, marker) {
			return l.seen[start:]
		}
	}
}

// syslogMsg is one parsed datagram.
type syslogMsg struct {
	hdrTime, host, tag, lineTime, level, pid, tid, msg string
	pri                                                int
}

func parseSyslog(t testing.TB, d string) syslogMsg {
	t.Helper()
	m := syslogRe.FindStringSubmatch(d)
	if m == nil {
		t.Fatalf("datagram not in nginx's syslog format: %q", d)
	}
	// The header's time and the line's are the same instant.
	hdr, err1 := time.ParseInLocation("Jan _2 15:04:05", m[2], time.Local)
	line, err2 := time.ParseInLocation("2006/01/02 15:04:05", m[5], time.Local)
	if err1 != nil || err2 != nil || hdr.Format("Jan _2 15:04:05") != line.Format("Jan _2 15:04:05") {
		t.Fatalf("header time %q and line time %q differ: %q", m[2], m[5], d)
	}
	pri, _ := strconv.Atoi(m[1])
	return syslogMsg{pri: pri, hdrTime: m[2], host: strings.TrimSuffix(m[3], " "), tag: m[4],
		lineTime: m[5], level: m[6], pid: m[7], tid: m[8], msg: m[9]}
}

func hostnameLower(t testing.TB) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return strings.ToLower(h)
}

// startMailproxy runs the binary itself (not nginx under E2E_PROXY): the
// tests here check mailproxy's own start-up line.
func startMailproxy(t testing.TB, conf string) *proc {
	t.Helper()
	return startProc(t, "mailproxy", conf, mailproxyBin, "-c", writeConf(t, conf))
}

// versionRe is the start-up line; a tool grepping for nginx/[0-9.]+ finds it.
var versionRe = regexp.MustCompile(`^mailproxy/[0-9.]+ \(nginx/1\.22\.1 compatible\)$`)

// syslogConf fills in conf: AUTH is the auth server's address, PORTn the
// n-th port.
func syslogConf(auth *authServer, conf string, ports ...int) string {
	conf = strings.ReplaceAll(conf, "AUTH", auth.Addr)
	for i, p := range ports {
		conf = strings.ReplaceAll(conf, "PORT"+strconv.Itoa(i+1), strconv.Itoa(p))
	}
	return conf
}

func TestSyslogUDPLevelsAndFormat(t *testing.T) {
	t.Parallel()
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	notice := listenSyslog(t, "udp", "127.0.0.1:0")
	info := listenSyslog(t, "udp", "127.0.0.1:0")
	port := freePort(t)
	dir := t.TempDir()
	p := startMailproxy(t, syslogConf(auth, fmt.Sprintf(`
error_log syslog:server=%s notice;
error_log syslog:server=%s,facility=mail,severity=crit,tag=mp_1,nohostname info;
error_log %s/error.log warn;
events {}
mail {
    server_name mx.test;
    auth_http AUTH/auth;
    server {
        listen 127.0.0.1:PORT1;
        protocol imap;
    }
}
`, notice.Addr, info.Addr, dir), port))

	c := dialIMAP(t, port)
	c.login("a1", "user", "pass")
	c.send("a2 LOGOUT\r\n")
	c.expect("* BYE fake backend logging out", "a2 OK LOGOUT completed")
	c.expectEOF()
	// An auth answer with a bad header is logged at error: the marker that
	// ends each stream below.
	c = dialIMAP(t, port)
	c.send("b1 LOGIN broken secret\r\n")
	c.expect("* BAD internal server error")
	c.expectEOF()
	p.mustBeAlive(t)

	host := hostnameLower(t)
	pid := strconv.Itoa(p.PID)
	check := func(l *syslogListener, wantHost, wantTag string, facility int, minLevel int) {
		t.Helper()
		var levels []string
		sawVersion := false
		for _, d := range l.until(t, "invalid header") {
			m := parseSyslog(t, d)
			lv := levelNum(m.level)
			if lv < 0 || lv > minLevel {
				t.Fatalf("%s: level %q not wanted at this target: %q", l.Addr, m.level, d)
			}
			if m.pri != facility*8+lv {
				t.Fatalf("%s: PRI %d for [%s], want facility %d * 8 + %d: %q", l.Addr, m.pri, m.level, facility, lv, d)
			}
			if m.host != wantHost || m.tag != wantTag {
				t.Fatalf("%s: host %q tag %q, want %q %q: %q", l.Addr, m.host, m.tag, wantHost, wantTag, d)
			}
			if m.pid != pid || m.tid != "0" {
				t.Fatalf("%s: pid: %q", l.Addr, d)
			}
			if versionRe.MatchString(m.msg) {
				sawVersion = true
				if !regexp.MustCompile(`nginx/[0-9.]+`).MatchString(d) {
					t.Fatalf("version line without nginx/x.y.z: %q", d)
				}
			}
			levels = append(levels, m.level)
		}
		if !sawVersion {
			t.Fatalf("%s: no start-up version line in %q", l.Addr, l.seen)
		}
		t.Logf("%s levels: %v", l.Addr, levels)
	}
	// notice: local7 (23), the host name, tag nginx; no [info] line.
	check(notice, host, "nginx", 23, 5)
	// info: mail (2), no host name, tag mp_1; severity=crit changes nothing
	// in PRI (nginx uses the message's level for error_log).
	check(info, "", "mp_1", 2, 6)
	found := false
	for _, d := range info.seen {
		if strings.Contains(d, "[info] "+pid+"#0: *") && strings.Contains(d, " client 127.0.0.1:") {
			found = true
		}
	}
	if !found {
		t.Fatalf("info target has no session line: %q", info.seen)
	}
	// The exact bytes of one datagram from each target: nginx's layout,
	// "<PRI>Mmm dd hh:mm:ss HOST TAG: " and the error_log line.
	exact := func(l *syslogListener, format string) {
		t.Helper()
		for _, d := range l.seen {
			if m := parseSyslog(t, d); versionRe.MatchString(m.msg) {
				if want := fmt.Sprintf(format, m.hdrTime, m.lineTime, pid, m.msg); d != want {
					t.Fatalf("datagram\n got %q\nwant %q", d, want)
				}
				return
			}
		}
		t.Fatalf("no version datagram at %s", l.Addr)
	}
	exact(notice, "<189>%s "+host+" nginx: %s [notice] %s#0: %s")
	exact(info, "<21>%s mp_1: %s [notice] %s#0: %s")

	// The file beside them got its own level only, and the version line
	// (notice) is not in it (warn), as nginx.
	data, err := os.ReadFile(filepath.Join(dir, "error.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(warn|error|crit|alert|emerg)\] `).MatchString(l) {
			t.Fatalf("file at warn has line %q", l)
		}
	}
	if !strings.Contains(string(data), "invalid header") {
		t.Fatalf("file at warn lacks the error line:\n%s", data)
	}
}

func levelNum(name string) int {
	for i, n := range []string{"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"} {
		if n == name {
			return i
		}
	}
	return -1
}

// A server's own error_log lines replace those of mail{}: its sessions go
// to its unix syslog socket and file, the other server's to the inherited
// UDP target.
func TestSyslogServerOverrideAndUnixSocket(t *testing.T) {
	t.Parallel()
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	udp := listenSyslog(t, "udp", "127.0.0.1:0")
	dir := t.TempDir()
	sock := filepath.Join(dir, "log.sock")
	unix := listenSyslog(t, "unixgram", sock)
	portA, portB := freePort(t), freePort(t)
	p := startMailproxy(t, syslogConf(auth, fmt.Sprintf(`
error_log %s/main.log notice;
events {}
mail {
    server_name mx.test;
    auth_http AUTH/auth;
    error_log syslog:server=%s,tag=mail_a info;
    server {
        listen 127.0.0.1:PORT1;
        protocol imap;
    }
    server {
        listen 127.0.0.1:PORT2;
        protocol imap;
        error_log syslog:server=unix:%s,facility=local0 info;
        error_log %s/b.log info;
    }
}
`, dir, udp.Addr, sock, dir), portA, portB))

	login := func(port int, user string) {
		t.Helper()
		c := dialIMAP(t, port)
		c.login("a1", user, "pass")
		c.send("a2 LOGOUT\r\n")
		c.expect("* BYE fake backend logging out", "a2 OK LOGOUT completed")
		c.expectEOF()
	}
	login(portB, "userb1")
	login(portA, "usera1")
	login(portB, "userb2")

	host := hostnameLower(t)
	// Server A's sessions reach the inherited UDP target only; server B's
	// (logged before and after) never do.
	for _, d := range udp.until(t, `login: "usera1"`) {
		if strings.Contains(d, "userb") {
			t.Fatalf("server B's line reached the mail{} target: %q", d)
		}
		if m := parseSyslog(t, d); m.tag != "mail_a" || m.host != host {
			t.Fatalf("udp: %q", d)
		}
	}
	got := unix.until(t, `login: "userb2"`)
	sawB1 := false
	for _, d := range got {
		if strings.Contains(d, "usera") {
			t.Fatalf("server A's line reached server B's socket: %q", d)
		}
		m := parseSyslog(t, d)
		if m.host != host || m.tag != "nginx" || m.pri != 16*8+levelNum(m.level) {
			t.Fatalf("unix: %q", d)
		}
		sawB1 = sawB1 || strings.Contains(d, `login: "userb1"`)
	}
	if !sawB1 {
		t.Fatalf("unix socket lacks the first session of server B: %q", got)
	}
	// The file beside B's syslog target has both of B's sessions, and the
	// main log (notice) has the start-up line but no session.
	b := waitFileContains(t, filepath.Join(dir, "b.log"), `login: "userb2"`)
	if !strings.Contains(b, `login: "userb1"`) || strings.Contains(b, "usera") {
		t.Fatalf("b.log:\n%s", b)
	}
	mainLog := waitFileContains(t, filepath.Join(dir, "main.log"), "(nginx/1.22.1 compatible)")
	if strings.Contains(mainLog, "login:") {
		t.Fatalf("main.log has session lines:\n%s", mainLog)
	}
	p.mustBeAlive(t)
}

// waitFileContains polls path until it contains s (lines are written when
// sessions end, after the client saw the close).
func waitFileContains(t testing.TB, path, s string) string {
	t.Helper()
	var data []byte
	var err error
	waitFor(t, syslogWait, func() bool {
		data, err = os.ReadFile(path)
		return err == nil && strings.Contains(string(data), s)
	}, func() string { return fmt.Sprintf("%s does not contain %q: %v\n%s", path, s, err, data) })
	return string(data)
}

// A syslog server that is down (nothing on the UDP port: ECONNREFUSED; a
// unix socket that does not exist) must not stop or slow logins: every
// message is dropped, and the loss is said once in the file beside.
func TestSyslogServerDownDoesNotStopLogins(t *testing.T) {
	t.Parallel()
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	dead := listenSyslog(t, "udp", "127.0.0.1:0")
	deadAddr := dead.Addr
	dead.pc.Close() // the port is now closed: the kernel answers ICMP unreachable
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such.sock")
	port, adminPort := freePort(t), freePort(t)
	p := startMailproxy(t, syslogConf(auth, fmt.Sprintf(`
error_log syslog:server=%s debug;
error_log syslog:server=unix:%s debug;
error_log %s/error.log info;
events {}
admin { listen 127.0.0.1:%d; }
mail {
    server_name mx.test;
    auth_http AUTH/auth;
    server {
        listen 127.0.0.1:PORT1;
        protocol imap;
        error_log syslog:server=unix:%s debug;
        error_log syslog:server=%s debug;
        error_log %s/server.log info;
    }
}
`, deadAddr, missing, dir, adminPort, missing, deadAddr, dir), port))
	for i := range 50 {
		c := dialIMAP(t, port)
		c.login("a1", "user"+strconv.Itoa(i), "pass")
		c.send("a2 LOGOUT\r\n")
		c.expect("* BYE fake backend logging out", "a2 OK LOGOUT completed")
		c.expectEOF()
	}
	p.mustBeAlive(t)
	want := `connect() to syslog server "unix:` + missing + `" failed (2: No such file or directory), the message is dropped`
	waitFileContains(t, filepath.Join(dir, "error.log"), want)
	s := waitFileContains(t, filepath.Join(dir, "server.log"), want)
	if n := strings.Count(s, want); n != 1 {
		t.Fatalf("the loss is said %d times, want once:\n%s", n, s)
	}
	waitFileContains(t, filepath.Join(dir, "server.log"), `login: "user49"`)
	// The drops are counted for alerting.
	waitFor(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(adminPort) + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		v, _ := opsParse(t, string(body)).sum("mailproxy_log_messages_dropped_total")
		return v >= 50
	}, func() string {
		return "mailproxy_log_messages_dropped_total counting the messages the dead syslog targets lost"
	})
}

// USR1 (reopen) keeps syslog targets working, and the target reconnects:
// a syslog daemon restarted with a fresh socket at the same path gets the
// next lines.
func TestSyslogReopenReconnects(t *testing.T) {
	t.Parallel()
	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	dir := t.TempDir()
	sock := filepath.Join(dir, "log.sock")
	l := listenSyslog(t, "unixgram", sock)
	port := freePort(t)
	p := startMailproxy(t, syslogConf(auth, fmt.Sprintf(`
error_log syslog:server=unix:%s info;
events {}
mail {
    server_name mx.test;
    auth_http AUTH/auth;
    server {
        listen 127.0.0.1:PORT1;
        protocol imap;
    }
}
`, sock), port))
	login := func(user string) {
		t.Helper()
		c := dialIMAP(t, port)
		c.login("a1", user, "pass")
		c.send("a2 LOGOUT\r\n")
		c.expect("* BYE fake backend logging out", "a2 OK LOGOUT completed")
		c.expectEOF()
	}
	login("first")
	l.until(t, `login: "first"`)
	// The daemon restarts: a new socket at the same path.
	l.pc.Close()
	os.Remove(sock)
	l2 := listenSyslog(t, "unixgram", sock)
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	l2.until(t, "logs reopened")
	login("second")
	l2.until(t, `login: "second"`)
	p.mustBeAlive(t)
}

// -t accepts the syslog and memory forms nginx accepts, and refuses a bad
// parameter with nginx's words.
func TestSyslogConfigTest(t *testing.T) {
	t.Parallel()
	f := func(target, want string, code int) {
		t.Helper()
		path := writeConf(t, fmt.Sprintf(`error_log %s;
events {}
mail {
    auth_http 127.0.0.1:9/auth;
    error_log %s;
    server {
        listen 127.0.0.1:%d;
        protocol imap;
        error_log %s;
    }
}
`, target, target, freePort(t), target))
		out, got := runProxyTest(t, path)
		if got != code || !strings.Contains(out, strings.ReplaceAll(want, "FILE", path)) {
			t.Fatalf("%s: exit %d, output:\n%s\nwant %d and %q", target, got, out, code, want)
		}
	}
	f("syslog:server=127.0.0.1:5514,facility=local0,severity=notice,tag=mail,nohostname debug", "test is successful", 0)
	f("syslog:server=[::1]", "test is successful", 0)
	f("syslog:server=unix:/nonexistent/dev/log info", "test is successful", 0)
	f("memory:32m debug", `[notice] "error_log memory:32m" is accepted and discarded`, 0)
	f("syslog:server=127.0.0.1,facility=bogus", `mailproxy: [emerg] unknown syslog facility "bogus" in FILE:1`, 1)
	f("syslog:facility=mail", `mailproxy: [emerg] no syslog server specified in FILE:1`, 1)
	f("memory:1k", `mailproxy: [emerg] invalid buffer size "1k" in FILE:1`, 1)
}

// The start-up lines are in every main-level log at notice, as nginx's:
// here two files and stderr.
func TestStartupVersionLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := freePort(t)
	p := startMailproxy(t, fmt.Sprintf(`
error_log %s/a.log notice;
error_log %s/b.log info;
error_log stderr notice;
events {}
mail {
    auth_http 127.0.0.1:9/auth;
    server {
        listen 127.0.0.1:%d;
        protocol imap;
    }
}
`, dir, dir, port))
	lineRe := regexp.MustCompile(`(?m)^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[notice\] ` + strconv.Itoa(p.PID) + `#0: (mailproxy/[0-9.]+ \(nginx/1\.22\.1 compatible\))$`)
	for _, name := range []string{"a.log", "b.log"} {
		s := waitFileContains(t, filepath.Join(dir, name), "compatible)")
		m := lineRe.FindStringSubmatch(s)
		if m == nil || !versionRe.MatchString(m[1]) {
			t.Fatalf("%s has no start-up version line:\n%s", name, s)
		}
		for _, w := range []string{`[notice] ` + strconv.Itoa(p.PID) + `#0: using the "epoll" event method`, "#0: OS: Linux ", "#0: getrlimit(RLIMIT_NOFILE): "} {
			if !strings.Contains(s, w) {
				t.Fatalf("%s lacks %q:\n%s", name, w, s)
			}
		}
	}
	// stderr reaches p.out through a pipe copied by another goroutine: poll.
	waitFor(t, syslogWait, func() bool { return lineRe.MatchString(p.out.String()) },
		func() string { return "stderr has no start-up version line:\n" + p.out.String() })
}

// The same config through nginx 1.22 and mailproxy: the datagrams of the
// start-up version line, a session's "client ... connected" line (info)
// and an auth error line have the same PRI, host, tag and layout. The
// differences that remain are documented: nginx's lines written while it
// starts have an empty HOST (its host name is not known yet; mailproxy
// always has it), its "PID#TID" is mailproxy's "PID#0", and the message
// texts after "*N " are each proxy's own.
func TestSyslogMatchesNginx(t *testing.T) {
	t.Parallel()
	needNginx(t)
	type run struct {
		version, connected, authErr syslogMsg
		nohost                      syslogMsg
	}
	do := func(start func(testing.TB, string) *proc) run {
		be := startBackend(t, backendOpts{})
		auth := startAuth(t, userAuth(be.Port))
		info := listenSyslog(t, "udp", "127.0.0.1:0")
		nohost := listenSyslog(t, "udp", "127.0.0.1:0")
		main := listenSyslog(t, "udp", "127.0.0.1:0")
		port := freePort(t)
		dir := t.TempDir()
		p := start(t, syslogConf(auth, fmt.Sprintf(`
error_log %s/error.log notice;
error_log syslog:server=%s notice;
pid %s/pid;
events {}
mail {
    server_name mx.test;
    auth_http AUTH/auth;
    error_log syslog:server=%s,facility=mail,tag=mp info;
    error_log syslog:server=%s,nohostname,facility=daemon error;
    server {
        listen 127.0.0.1:PORT1;
        protocol imap;
    }
}
`, dir, main.Addr, dir, info.Addr, nohost.Addr), port))
		c := dialIMAP(t, port)
		c.send("b1 LOGIN broken secret\r\n")
		c.expect("* BAD internal server error")
		c.expectEOF()
		var r run
		for _, d := range info.until(t, "invalid header") {
			m := parseSyslog(t, d)
			switch {
			case strings.Contains(m.msg, " client 127.0.0.1:") && strings.Contains(m.msg, " connected to 127.0.0.1:"):
				r.connected = m
			case strings.Contains(m.msg, "invalid header"):
				r.authErr = m
			}
		}
		r.nohost = parseSyslog(t, nohost.until(t, "invalid header")[0])
		vs := main.until(t, "nginx/1.22.1")
		r.version = parseSyslog(t, vs[len(vs)-1])
		p.mustBeAlive(t)
		return r
	}
	ngx := do(startNginx)
	mp := do(startMailproxy)
	host := hostnameLower(t)
	same := func(what string, n, m syslogMsg, wantHost string) {
		t.Helper()
		if n.pri != m.pri || n.tag != m.tag || n.level != m.level || n.host != wantHost || m.host != wantHost {
			t.Fatalf("%s differs:\nnginx     %+v\nmailproxy %+v", what, n, m)
		}
		if !strings.HasPrefix(n.msg, "*") || !strings.HasPrefix(m.msg, "*") {
			t.Fatalf("%s: no *N connection number:\nnginx     %q\nmailproxy %q", what, n.msg, m.msg)
		}
	}
	same("client connected line", ngx.connected, mp.connected, host)
	same("auth error line", ngx.authErr, mp.authErr, host)
	same("nohostname line", ngx.nohost, mp.nohost, "")
	// The version line: both match nginx/[0-9.]+, at notice in local7.
	nginxRe := regexp.MustCompile(`nginx/[0-9.]+`)
	if ngx.version.msg != "nginx/1.22.1" || !versionRe.MatchString(mp.version.msg) || !nginxRe.MatchString(mp.version.msg) ||
		ngx.version.pri != 189 || mp.version.pri != 189 || ngx.version.tag != "nginx" || mp.version.tag != "nginx" ||
		ngx.version.host != "" || mp.version.host != host {
		t.Fatalf("version line:\nnginx     %+v\nmailproxy %+v", ngx.version, mp.version)
	}
	if ngx.connected.pri != 2*8+6 || ngx.authErr.pri != 2*8+3 || ngx.nohost.pri != 3*8+3 {
		t.Fatalf("nginx's PRI: %d %d %d", ngx.connected.pri, ngx.authErr.pri, ngx.nohost.pri)
	}
}

package config

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The error texts are nginx 1.22.1's, from nginx -t on the same lines.
func TestSyslogParseErrors(t *testing.T) {
	f := func(target, want string) {
		t.Helper()
		_, err, path := testParse(t, "error_log "+target+";\n", nil)
		if want != "" {
			want += " in FILE:1"
		}
		wantErr(t, err, path, want)
	}
	f("syslog:", `unknown syslog parameter ""`)
	f("syslog:facility=mail", `no syslog server specified`)
	f("syslog:server=127.0.0.1,facility=bogus", `unknown syslog facility "bogus"`)
	f("syslog:server=127.0.0.1,facility=LOCAL0", `unknown syslog facility "LOCAL0"`)
	f("syslog:server=127.0.0.1,facility=", `unknown syslog facility ""`)
	f("syslog:server=127.0.0.1,severity=bogus", `unknown syslog severity "bogus"`)
	f("syslog:server=127.0.0.1,severity=warning", `unknown syslog severity "warning"`)
	f("syslog:server=127.0.0.1,tag=a-b", `syslog "tag" only allows alphanumeric characters and underscore`)
	f("syslog:server=127.0.0.1,tag="+strings.Repeat("a", 33), `syslog tag length exceeds 32`)
	f("syslog:server=127.0.0.1,bogus=1", `unknown syslog parameter "bogus=1"`)
	f("syslog:server=127.0.0.1,nohostname=1", `unknown syslog parameter "nohostname=1"`)
	f("syslog:SERVER=127.0.0.1", `unknown syslog parameter "SERVER=127.0.0.1"`)
	f("syslog:server=127.0.0.1,", `unknown syslog parameter ""`)
	f("syslog:,server=127.0.0.1", `unknown syslog parameter ""`)
	f("syslog:server=127.0.0.1:99999", `invalid port in syslog server "127.0.0.1:99999"`)
	f("syslog:server=127.0.0.1:0", `invalid port in syslog server "127.0.0.1:0"`)
	f("syslog:server=127.0.0.1:abc", `invalid port in syslog server "127.0.0.1:abc"`)
	f("syslog:server=127.0.0.1:", `invalid port in syslog server "127.0.0.1:"`)
	f("syslog:server=::1", `invalid port in syslog server "::1"`)
	f("syslog:server=[::1", `invalid host in syslog server "[::1"`)
	f("syslog:server=127.0.0.1:5514/x", `invalid host in syslog server "127.0.0.1:5514/x"`)
	f("syslog:server=http://127.0.0.1", `invalid host in syslog server "http://127.0.0.1"`)
	f("syslog:server=", `no host in syslog server ""`)
	f("syslog:server=unix:", `no path in the unix domain socket in syslog server "unix:"`)
	f("syslog:server=nonexistent.invalid", `host not found in syslog server "nonexistent.invalid"`)
	f("syslog:server=127.0.0.1,server=127.0.0.2", `duplicate syslog "server"`)
	f("syslog:server=127.0.0.1,facility=mail,facility=user", `duplicate syslog "facility"`)
	f("syslog:server=127.0.0.1,severity=warn,severity=info", `duplicate syslog "severity"`)
	f("syslog:server=127.0.0.1,tag=a,tag=b", `duplicate syslog "tag"`)
	f("syslog:server=127.0.0.1 bogus", `invalid log level "bogus"`)
	f("syslog:server=127.0.0.1 info debug", `duplicate log level "debug"`)
	f("memory:foo", `invalid buffer size "foo"`)
	f("memory:", `invalid buffer size ""`)
	f("memory:2k", `invalid buffer size "2k"`)
	f("memory:1g", `invalid buffer size "1g"`)
	// Accepted by nginx too.
	f("syslog:server=[::1]:5514", "")
	f("syslog:server=[::1]", "")
	f("syslog:server=unix:/nonexistent/log", "")
	f("syslog:server=127.0.0.1,tag=", "")
	f("syslog:server=127.0.0.1,nohostname,nohostname", "")
	f("syslog:server=localhost", "")
	f("memory:32m debug", "")
}

// memory: takes nginx's smallest size, which counts the config file's name.
func TestMemoryMinimumSize(t *testing.T) {
	_, err, path := testParse(t, "error_log memory:3k;\n", nil)
	wantErr(t, err, path, "")
	n := memoryMin(len(path))
	_, err, path = testParse(t, "error_log memory:"+strconv.Itoa(n-1)+";\n", nil)
	wantErr(t, err, path, `invalid buffer size "`+strconv.Itoa(n-1)+`" in FILE:1`)
	// nginx -t -c /tmp/sl/t.conf (14 bytes): 2112 refused, 2113 accepted.
	if memoryMin(14) != 2113 {
		t.Fatalf("memoryMin(14) = %d, nginx says 2113", memoryMin(14))
	}
}

func TestSyslogParse(t *testing.T) {
	f := func(target string, want SyslogTarget) {
		t.Helper()
		c := testOK(t, "error_log "+target+" notice;\n")
		lt := c.ErrorLogs[0]
		if lt.Path != target || lt.Level != "notice" || lt.Syslog == nil {
			t.Fatalf("%s: %+v", target, lt)
		}
		if *lt.Syslog != want {
			t.Fatalf("%s:\n got %+v\nwant %+v", target, *lt.Syslog, want)
		}
	}
	f("syslog:server=127.0.0.1", SyslogTarget{Network: "udp", Addr: "127.0.0.1:514", Server: "127.0.0.1", Facility: 23, Severity: 6, Tag: "nginx"})
	f("syslog:server=[::1]:5514,facility=kern,severity=emerg,tag=,nohostname",
		SyslogTarget{Network: "udp", Addr: "[::1]:5514", Server: "[::1]:5514", Facility: 0, Severity: 0, Tag: "", NoHostname: true})
	f("syslog:tag=Mail_1,server=localhost:1514,facility=mail",
		SyslogTarget{Network: "udp", Addr: "127.0.0.1:1514", Server: "localhost:1514", Facility: 2, Severity: 6, Tag: "Mail_1"})
	f("syslog:server=unix:/dev/log,facility=local0,severity=debug",
		SyslogTarget{Network: "unixgram", Addr: "/dev/log", Server: "unix:/dev/log", Facility: 16, Severity: 7, Tag: "nginx"})

	c := testOK(t, "error_log memory:32m debug;\n")
	if lt := c.ErrorLogs[0]; lt.Memory != 32<<20 || lt.Level != "debug" || lt.Path != "memory:32m" {
		t.Fatalf("memory: %+v", lt)
	}
	if len(c.Notices) != 1 || !strings.Contains(c.Notices[0].Msg, `"error_log memory:32m" is accepted and discarded`) {
		t.Fatalf("memory notice: %+v", c.Notices)
	}
}

// A server's own error_log lines replace the inherited ones, syslog
// targets included, as for files.
func TestSyslogServerReplaces(t *testing.T) {
	s := testServer(t, "error_log syslog:server=127.0.0.1:1 info;", "")
	if len(s.ErrorLogs) != 1 || s.ErrorLogs[0].Syslog == nil || s.ErrorLogs[0].Syslog.Addr != "127.0.0.1:1" {
		t.Fatalf("inherited: %+v", s.ErrorLogs)
	}
	s = testServer(t, "error_log syslog:server=127.0.0.1:1 info;", "error_log syslog:server=127.0.0.1:2 warn; error_log stderr;")
	if len(s.ErrorLogs) != 2 || s.ErrorLogs[0].Syslog.Addr != "127.0.0.1:2" || s.ErrorLogs[0].Level != "warn" || s.ErrorLogs[1].Path != "stderr" {
		t.Fatalf("replaced: %+v", s.ErrorLogs)
	}
}

// The handler's datagrams, byte for byte as nginx 1.22.1 sent them for the
// same targets (captured with a UDP listener): PRI is facility*8 plus the
// message's level, whatever severity= says.
func TestSyslogDatagram(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	addr := pc.LocalAddr().String()
	dir := t.TempDir()
	file := filepath.Join(dir, "error.log")
	h, err := NewLogHandler([]LogTarget{
		{Path: "syslog:a", Level: "notice", Syslog: &SyslogTarget{Network: "udp", Addr: addr, Server: addr, Facility: 23, Severity: 6, Tag: "nginx"}},
		{Path: "syslog:b", Level: "debug", Syslog: &SyslogTarget{Network: "udp", Addr: addr, Server: addr, Facility: 2, Severity: 2, Tag: "foo_1", NoHostname: true}},
		{Path: file, Level: "warn"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tm := time.Date(2026, 12, 3, 9, 5, 7, 0, time.Local)
	log := func(l slog.Level, msg string) {
		r := slog.NewRecord(tm, l, msg, 0)
		if err := h.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	log(LevelNotice, "mailproxy/0.1.0")
	log(LevelDebug, "debug only")
	log(LevelError, "an error")
	h.Close()
	host := syslogHostname()
	pid := strconv.Itoa(os.Getpid())
	line := func(level, msg string) string { return "2026/12/03 09:05:07 [" + level + "] " + pid + "#0: " + msg }
	want := map[string]bool{
		"<189>Dec  3 09:05:07 " + host + " nginx: " + line("notice", "mailproxy/0.1.0"): true,
		"<21>Dec  3 09:05:07 foo_1: " + line("notice", "mailproxy/0.1.0"):               true,
		"<23>Dec  3 09:05:07 foo_1: " + line("debug", "debug only"):                     true,
		"<187>Dec  3 09:05:07 " + host + " nginx: " + line("error", "an error"):         true,
		"<19>Dec  3 09:05:07 foo_1: " + line("error", "an error"):                       true,
	}
	buf := make([]byte, 65536)
	for len(want) > 0 {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("still waiting for %v: %v", want, err)
		}
		got := string(buf[:n])
		if !want[got] {
			t.Fatalf("unexpected datagram %q; want one of %v", got, want)
		}
		delete(want, got)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != line("error", "an error")+"\n" {
		t.Fatalf("file beside syslog: %q", data)
	}
}

// A unix socket that does not exist drops the messages without making the
// caller wait, and says so once in the file beside it.
func TestSyslogMissingSocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "error.log")
	sock := filepath.Join(dir, "nope.sock")
	h, err := NewLogHandler([]LogTarget{
		{Path: "syslog:x", Level: "info", Syslog: &SyslogTarget{Network: "unixgram", Addr: sock, Server: "unix:" + sock, Facility: 23, Tag: "nginx"}},
		{Path: file, Level: "error"},
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	for range 3 * syslogQueueLen {
		log.Info("lost")
	}
	h.Close()
	if h.SyslogDropped() != 3*syslogQueueLen {
		t.Fatalf("dropped %d, want %d", h.SyslogDropped(), 3*syslogQueueLen)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := `connect() to syslog server "unix:` + sock + `" failed (2: No such file or directory), the message is dropped`
	if n := strings.Count(string(data), want); n != 1 {
		t.Fatalf("want the failure once in the file, got %d:\n%s", n, data)
	}
}

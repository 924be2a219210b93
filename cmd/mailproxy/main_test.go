package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mailproxy/loop"
)

// binPath is the mailproxy binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailproxy-cmd-test")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "mailproxy")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBin runs the built binary and returns stdout, stderr and exit code.
func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func writeConf(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mail.conf")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodConf = "events { worker_connections 64; }\nmail {\n auth_http 127.0.0.1:9/auth;\n server { listen 127.0.0.1:1143; protocol imap; }\n}\n"

func TestBinary(t *testing.T) {
	good := writeConf(t, goodConf)
	bad := writeConf(t, "events {}\nfoo;\n")
	withNotice := writeConf(t, "load_module x.so;\n"+goodConf)
	chunking := writeConf(t, "events {}\nmail {\n auth_http 127.0.0.1:9/auth;\n server { listen 127.0.0.1:2525; protocol smtp; smtp_capabilities PIPELINING CHUNKING; }\n}\n")
	f := func(args []string, wantCode int, wantStdout, wantStderr string) {
		t.Helper()
		stdout, stderr, code := runBin(t, args...)
		if code != wantCode || stderr != wantStderr || (wantStdout != "*" && stdout != wantStdout) {
			t.Fatalf("mailproxy %q: exit %d\nstdout %q\nstderr %q\nwant exit %d\nstdout %q\nstderr %q",
				args, code, stdout, stderr, wantCode, wantStdout, wantStderr)
		}
	}
	ok := "mailproxy: the configuration file " + good + " syntax is ok\nmailproxy: configuration file " + good + " test is successful\n"
	f([]string{"-v"}, 0, "", "mailproxy version: mailproxy/"+loop.Version+"\n")
	f([]string{"-t", "-c", good}, 0, "", ok)
	f([]string{"-tc", good}, 0, "", ok)
	f([]string{"-tq", "-c", good}, 0, "", "")
	f([]string{"-t", "-c", bad}, 1, "", "mailproxy: [emerg] unknown directive \"foo\" in "+bad+":2\nmailproxy: configuration file "+bad+" test failed\n")
	f([]string{"-t", "-q", "-c", bad}, 1, "", "mailproxy: [emerg] unknown directive \"foo\" in "+bad+":2\nmailproxy: configuration file "+bad+" test failed\n")
	f([]string{"-T", "-c", good}, 0, "# configuration file "+good+":\n"+goodConf+"\n", ok)
	nf := filepath.Join(filepath.Dir(good), "none.conf")
	f([]string{"-t", "-c", nf}, 1, "", "mailproxy: [emerg] open() \""+nf+"\" failed (2: No such file or directory)\nmailproxy: configuration file "+nf+" test failed\n")
	f([]string{"-x"}, 1, "", "mailproxy: invalid option: \"x\"\n")
	// nginx's mail-loss trap: CHUNKING advertised before auth, where BDAT cannot be taken
	f([]string{"-t", "-c", chunking}, 1, "", "mailproxy: [emerg] \"CHUNKING\" in smtp_capabilities cannot be honoured: before login mailproxy cannot take BDAT, so clients would lose mail; remove it (the backend still offers it after AUTH) in "+chunking+":4\nmailproxy: configuration file "+chunking+" test failed\n")
	// like nginx -t: every error_log file is opened (and created), main and per-server
	logDir := t.TempDir()
	mainLog, srvLog := filepath.Join(logDir, "main.log"), filepath.Join(logDir, "imap.log")
	logs := writeConf(t, "error_log "+mainLog+";\nevents {}\nmail {\n auth_http 127.0.0.1:9/auth;\n server { listen 127.0.0.1:1143; protocol imap; error_log "+srvLog+" info; }\n}\n")
	f([]string{"-tq", "-c", logs}, 0, "", "")
	for _, p := range []string{mainLog, srvLog} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("-t did not create %s: %v", p, err)
		}
	}
	missing := filepath.Join(logDir, "no-such-dir", "imap.log")
	badLog := writeConf(t, "events {}\nmail {\n auth_http 127.0.0.1:9/auth;\n server { listen 127.0.0.1:1143; protocol imap; error_log "+missing+"; }\n}\n")
	f([]string{"-t", "-c", badLog}, 1, "", "mailproxy: [emerg] open() \""+missing+"\" failed (2: No such file or directory)\nmailproxy: configuration file "+badLog+" test failed\n")
	badMain := writeConf(t, "error_log "+missing+";\n"+goodConf)
	f([]string{"-t", "-c", badMain}, 1, "", "mailproxy: [emerg] open() \""+missing+"\" failed (2: No such file or directory)\nmailproxy: configuration file "+badMain+" test failed\n")
	f([]string{"-c"}, 1, "", "mailproxy: option \"-c\" requires file name\n")
	f([]string{"-s", "bogus"}, 1, "", "mailproxy: invalid option: \"-s bogus\"\n")
	// a broken config fails a normal start the same way, with exit 1
	f([]string{"-c", bad}, 1, "", "mailproxy: [emerg] unknown directive \"foo\" in "+bad+":2\n")

	_, stderr, code := runBin(t, "-t", "-c", withNotice)
	if code != 0 || !strings.HasPrefix(stderr, "mailproxy: [notice] \"load_module\" is ignored: mailproxy has the mail modules built in in "+withNotice+":1\n") {
		t.Fatalf("notice: %d %q", code, stderr)
	}
	_, stderr, code = runBin(t, "-V")
	if code != 0 || !strings.Contains(stderr, "built with go") {
		t.Fatalf("-V: %d %q", code, stderr)
	}
	_, stderr, code = runBin(t, "-h")
	if code != 0 || !strings.Contains(stderr, "Usage: mailproxy") {
		t.Fatalf("-h: %d %q", code, stderr)
	}
}

func TestParseArgs(t *testing.T) {
	f := func(args, want string) {
		t.Helper()
		o, err := parseArgs(strings.Fields(args))
		got := ""
		if err != nil {
			got = "ERR " + err.Error()
		} else {
			got = o.conf
			for _, b := range []struct {
				on   bool
				name string
			}{{o.test, "t"}, {o.dump, "T"}, {o.quiet, "q"}, {o.version, "v"}, {o.versionLong, "V"}, {o.help, "h"}} {
				if b.on {
					got += " " + b.name
				}
			}
		}
		if got != want {
			t.Fatalf("%q: got %q, want %q", args, got, want)
		}
	}
	f("", "/etc/mailproxy/mail.conf")
	f("-t", "/etc/mailproxy/mail.conf t")
	f("-T", "/etc/mailproxy/mail.conf t T")
	f("-tq -c /a", "/a t q")
	f("-c/a -t", "/a t")
	f("-tc /a", "/a t")
	f("-V", "/etc/mailproxy/mail.conf v V")
	f("-?", "/etc/mailproxy/mail.conf h")
	f("-h", "/etc/mailproxy/mail.conf h")
	f("-e /dev/null -t", "/etc/mailproxy/mail.conf t")
	f("-z", `ERR invalid option: "z"`)
	f("-tz", `ERR invalid option: "z"`)
	f("conf", `ERR invalid option: "conf"`)
	f("-", `ERR invalid option: "-"`)
	f("-c", `ERR option "-c" requires file name`)
}

// Command mailproxy is an IMAP/POP3/SMTP proxy configured like nginx's mail
// module. Its command line follows nginx's: -c, -t, -T, -q, -v, -V, -h, -s.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"mailproxy/config"
	"mailproxy/loop"
)

const defaultConf = "/etc/mailproxy/mail.conf"

// options are the parsed command-line flags.
type options struct {
	conf                  string
	test, dump, quiet     bool
	version, versionLong  bool
	help                  bool
	signal, prefix, globs string
}

// parseArgs reads nginx-style options: single letters that may be grouped
// ("-tq"), with -c/-s/-p/-g/-e taking the rest of the word or the next one.
func parseArgs(args []string) (options, error) {
	o := options{conf: defaultConf}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' {
			return o, fmt.Errorf("invalid option: %q", a)
		}
		for j := 1; j < len(a); j++ {
			c := a[j]
			switch c {
			case '?', 'h':
				o.help = true
			case 'v':
				o.version = true
			case 'V':
				o.version, o.versionLong = true, true
			case 't':
				o.test = true
			case 'T':
				o.test, o.dump = true, true
			case 'q':
				o.quiet = true
			case 'c', 's', 'p', 'g', 'e':
				val := a[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return o, fmt.Errorf("option \"-%c\" requires %s", c, map[byte]string{'c': "file name", 's': "parameter", 'p': "directory name", 'g': "parameter", 'e': "file name"}[c])
					}
					i++
					val = args[i]
				}
				switch c {
				case 'c':
					o.conf = val
				case 's':
					o.signal = val
				case 'p':
					o.prefix = val
				case 'g':
					o.globs = val
				case 'e':
					// -e (startup error log) is accepted and ignored:
					// startup messages always go to stderr.
				}
				j = len(a)
			default:
				return o, fmt.Errorf("invalid option: %q", a[j:])
			}
		}
	}
	return o, nil
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: mailproxy [-?hvVtTq] [-s signal] [-c filename]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and build information and exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to the running process (read from the pid file):
                  stop, quit (drain and exit), reopen (log files), reload,
                  upgrade (start the binary on disk with the listeners handed over)
  -c filename   : set configuration file (default: `+defaultConf+`)
`)
}

func printVersion(w io.Writer, long bool) {
	fmt.Fprintf(w, "mailproxy version: mailproxy/%s\n", loop.Version)
	if !long {
		return
	}
	fmt.Fprintf(w, "built with %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision", "vcs.time", "vcs.modified", "-tags", "CGO_ENABLED":
				fmt.Fprintf(w, "%s=%s\n", s.Key, s.Value)
			}
		}
		for _, d := range bi.Deps {
			fmt.Fprintf(w, "dep %s %s\n", d.Path, d.Version)
		}
	}
	fmt.Fprintf(w, "configuration file: %s\n", defaultConf)
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is main without os.Exit, returning the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if err != nil {
		stderrf(stderr, "", "%v", err)
		return 1
	}
	if o.help {
		printVersion(stderr, false)
		usage(stderr)
		return 0
	}
	if o.version {
		printVersion(stderr, o.versionLong)
		if !o.test {
			return 0
		}
	}
	for flag, v := range map[string]string{"p": o.prefix, "g": o.globs} {
		if v != "" {
			stderrf(stderr, "", `the "-%s" option is not supported yet`, flag)
			return 1
		}
	}
	conf := o.conf
	if abs, err := filepath.Abs(conf); err == nil {
		conf = abs
	}
	if o.test {
		return testConfig(conf, o, stdout, stderr)
	}
	if o.signal != "" {
		return sendSignal(o.signal, conf, stderr)
	}
	return serve(conf, stderr)
}

// testConfig is -t / -T with nginx's messages and exit codes.
func testConfig(conf string, o options, stdout, stderr io.Writer) int {
	cfg, err := config.Load(conf)
	if err == nil {
		err = loop.Check(cfg)
	}
	if err != nil {
		stderrf(stderr, "emerg", "%v", err)
		stderrf(stderr, "", "configuration file %s test failed", conf)
		return 1
	}
	printNotices(stderr, cfg.Notices, o.quiet)
	if !o.quiet {
		stderrf(stderr, "", "the configuration file %s syntax is ok", conf)
		stderrf(stderr, "", "configuration file %s test is successful", conf)
	}
	if o.dump {
		if err := config.Dump(conf, stdout); err != nil {
			stderrf(stderr, "emerg", "%v", err)
			return 1
		}
	}
	return 0
}

// serve loads the config and runs the proxy until it is stopped.
//
// Privileges: the "user" directive is applied with config.DropPrivileges.
// loop.Run calls it right after binding the listeners, since mail ports
// (25, 110, 143, ...) are below 1024 and need root to bind.
func serve(conf string, stderr io.Writer) int {
	cfg, err := config.Load(conf)
	if err != nil {
		stderrf(stderr, "emerg", "%v", err)
		return 1
	}
	log, lh, err := newLogger(cfg)
	if err != nil {
		stderrf(stderr, "emerg", "%v", err)
		return 1
	}
	// Flush the syslog targets last: the main ones with lh, then the
	// server-level ones, so the final lines reach the syslog server.
	defer config.CloseSyslog()
	defer lh.Close()
	logNotices(log, cfg.Notices)
	if !logsToStderr(cfg) {
		// nginx shows config warnings on the terminal at startup too.
		printNotices(stderr, cfg.Notices, true)
	}

	if n := cfg.WorkerRlimitNofile; n > 0 {
		lim := syscall.Rlimit{Cur: uint64(n), Max: uint64(n)}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			// nginx's level and words: alert, so the default error_log
			// level shows it (the proxy will run out of descriptors early).
			log.Log(context.Background(), config.LevelAlert, fmt.Sprintf("setrlimit(RLIMIT_NOFILE, %d) failed %s", n, errnoText(err)))
		}
	}
	logStartup(log)
	// The pid file is written once the listeners are bound, as nginx does:
	// a second start that fails on bind never touches the running
	// instance's file.
	var pf *pidFile
	defer func() {
		if pf != nil {
			pf.release()
		}
	}()
	bound := func() error {
		if cfg.Pid == "" {
			return nil
		}
		p, err := writePidFile(cfg.Pid)
		if err != nil {
			return fmt.Errorf(`open() "%s" failed %s`, cfg.Pid, errnoText(err))
		}
		pf = p
		return nil
	}
	setMaxProcs(cfg.WorkerProcesses)
	startGCFloor(cfg.GCHeapFloor)
	if err := loop.Run(cfg, log, bound); err != nil {
		stderrf(stderr, "emerg", "%v", err)
		log.Log(context.Background(), config.LevelEmerg, err.Error())
		return 1
	}
	return 0
}

// setMaxProcs gives the Go scheduler one P per event loop (at least two),
// unless GOMAXPROCS is set, as nginx's worker_processes says how many
// cores the proxy uses. Everything else a login needs runs on the loops'
// threads between their rounds: accepts (accept.go), auth_http answers
// (authwake.go: they wake a loop, not Go's netpoller) and TLS handshake
// goroutines (readied by the loop that feeds them). A spare P costs: gnet's
// poller calls runtime.Gosched after every empty poll, and with an idle P
// each call wakes a thread that finds nothing to do. Measured
// (bench/RESULTS.md, issue 13, "GOMAXPROCS = loops"): 9-23% less CPU per
// login than loops + 1, with the same latency. Two at least: with one P
// the few goroutines that still wait in Go's netpoller (admin, Redis, DNS)
// would wait for sysmon.
func setMaxProcs(loops int) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if loops <= 0 {
		loops = runtime.NumCPU() // loop.Run's default
	}
	runtime.GOMAXPROCS(max(loops, 2))
}

// errnoText renders "(13: Permission denied)" like nginx.
func errnoText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		msg := en.Error()
		if msg != "" {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
		return fmt.Sprintf("(%d: %s)", int(en), msg)
	}
	return "(" + err.Error() + ")"
}

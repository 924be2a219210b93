package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mailproxy/bench/loadgen"
)

// loadFlags are the flags shared by login, idle and relay.
type loadFlags struct {
	fs       *flag.FlagSet
	o        loadgen.Options
	pids     string
	mockpids string
	pidfile  string
	json     bool
	label    string
	tag      string
	progress bool
}

func newLoadFlags(name string, defConc int, defDur time.Duration) *loadFlags {
	lf := &loadFlags{fs: flag.NewFlagSet(name, flag.ExitOnError)}
	fs, o := lf.fs, &lf.o
	fs.StringVar(&o.Proto, "proto", "imap", "protocol: imap, pop3 or smtp")
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:1143", "proxy address")
	fs.StringVar(&o.User, "user", "demo", "login name")
	fs.StringVar(&o.Pass, "pass", "pass", "password")
	fs.IntVar(&o.Conc, "c", defConc, "concurrent workers")
	fs.DurationVar(&o.Duration, "d", defDur, "run time bound (max 30m)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "deadline for each connection step")
	fs.IntVar(&o.Sources, "src", 0, "spread source addresses over N addresses 127.0.0.2... (0: kernel's choice)")
	fs.IntVar(&o.SrcOffset, "src-offset", 0, "first source address is 127.0.0.(2+offset), to run several generators")
	fs.BoolVar(&o.TLS, "tls", false, "implicit TLS (993/995/465-style listener): a full handshake per connection")
	fs.BoolVar(&o.Resume, "resume", false, "with -tls or -starttls: one TLS session cache for the run, so logins after the first resume (session tickets or the server's cache); the report counts the resumed handshakes")
	fs.BoolVar(&o.StartTLS, "starttls", false,
		"plaintext port upgraded after the greeting (IMAP STARTTLS, POP3 STLS, SMTP EHLO+STARTTLS): a full handshake per connection")
	fs.StringVar(&lf.pids, "pid", "", "comma-separated pids whose process trees are the proxy (CPU and memory)")
	fs.StringVar(&lf.mockpids, "mockpid", "", "comma-separated pids of the mocks, to show their CPU per op")
	fs.StringVar(&lf.pidfile, "pidfile", "", "read the proxy's root pid from this file (e.g. nginx.pid)")
	fs.BoolVar(&lf.json, "json", false, "print the report as JSON")
	fs.StringVar(&lf.label, "label", "", "name of the system under test, kept in the report (summary groups by it)")
	fs.StringVar(&lf.tag, "tag", "", "server-side variant measured (e.g. kx=X25519), kept in the report: summary rows keep tags apart")
	fs.BoolVar(&lf.progress, "progress", true, "one-line progress on a terminal for runs over 3s")
	return lf
}

func (lf *loadFlags) parse(args []string) error {
	lf.fs.Parse(args)
	if lf.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", lf.fs.Args())
	}
	if lf.o.TLS && lf.o.StartTLS {
		lf.usageError("-tls and -starttls are exclusive: a listener is TLS from the first byte or upgraded after the greeting")
	}
	lf.o.Progress = lf.progress && !lf.json
	var err error
	if lf.o.PIDs, err = parsePIDs(lf.pids); err != nil {
		return fmt.Errorf("-pid: %v", err)
	}
	if lf.o.MockPIDs, err = parsePIDs(lf.mockpids); err != nil {
		return fmt.Errorf("-mockpid: %v", err)
	}
	if lf.pidfile != "" {
		b, err := os.ReadFile(lf.pidfile)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("-pidfile %s: %v", lf.pidfile, err)
		}
		lf.o.PIDs = append(lf.o.PIDs, n)
	}
	return nil
}

// usageError reports a bad flag combination the way the flag package
// reports a bad flag (its ExitOnError): message, flag list, exit status 2.
func (lf *loadFlags) usageError(msg string) {
	fmt.Fprintln(lf.fs.Output(), msg)
	lf.fs.Usage()
	os.Exit(2)
}

// emit prints r as a table or JSON.
func (lf *loadFlags) emit(r *loadgen.Report) error {
	r.Label, r.Tag = lf.label, lf.tag
	if lf.json {
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(r)
	}
	r.WriteTable(os.Stdout)
	return nil
}

// signalContext is cancelled by SIGINT or SIGTERM, ending a run early with
// a report of what was measured so far.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func runLogin(args []string) error {
	lf := newLoadFlags("login", 50, 10*time.Second)
	lf.fs.Float64Var(&lf.o.Rate, "rate", 0, "open loop: sessions per second (0: closed loop)")
	lf.fs.IntVar(&lf.o.Count, "n", 0, "stop after this many sessions (0: run for -d)")
	if err := lf.parse(args); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	r, err := loadgen.RunLogin(ctx, lf.o)
	if err != nil {
		return err
	}
	return lf.emit(r)
}

func runRelay(args []string) error {
	lf := newLoadFlags("relay", 8, 10*time.Second)
	lf.fs.IntVar(&lf.o.Count, "n", 0, "stop after this many messages (0: run for -d)")
	lf.fs.IntVar(&lf.o.Size, "size", 1<<20, "smtp: DATA payload bytes (imap/pop3 fetch the backend's message)")
	if err := lf.parse(args); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	r, err := loadgen.RunRelay(ctx, lf.o)
	if err != nil {
		return err
	}
	return lf.emit(r)
}

func runIdle(args []string) error {
	lf := newLoadFlags("idle", 100, 2*time.Minute)
	lf.fs.IntVar(&lf.o.Conns, "conns", 1000, "connections to open and hold (at most the open-file limit minus 64)")
	lf.fs.BoolVar(&lf.o.Login, "login", false, "log in before holding, so the proxy holds relayed sessions")
	lf.fs.DurationVar(&lf.o.Hold, "hold", 5*time.Second, "wait after the last connection before sampling memory")
	if err := lf.parse(args); err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	r, err := loadgen.RunIdle(ctx, lf.o)
	if err != nil {
		return err
	}
	return lf.emit(r)
}

func parsePIDs(list string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

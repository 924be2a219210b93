package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"mailproxy/config"
)

// signals maps nginx's -s names to the signals the running process takes.
var signals = map[string]syscall.Signal{
	"stop":   syscall.SIGTERM, // drain, as nginx's fast shutdown closes; see README
	"quit":   syscall.SIGQUIT,
	"reopen": syscall.SIGUSR1,
	"reload": syscall.SIGHUP,
	// Start the binary on disk with the listening sockets handed over,
	// as nginx's USR2 (README "Upgrading").
	"upgrade": syscall.SIGUSR2,
}

// sendSignal is -s: read the pid file named by the configuration and signal
// that process, as nginx does.
func sendSignal(name, conf string, stderr io.Writer) int {
	sig, ok := signals[name]
	if !ok {
		stderrf(stderr, "", `invalid option: "-s %s"`, name)
		return 1
	}
	cfg, err := config.Load(conf)
	if err != nil {
		stderrf(stderr, "emerg", "%v", err)
		return 1
	}
	if cfg.Pid == "" {
		stderrf(stderr, "error", `no "pid" file is configured in %s: cannot find the process to signal`, conf)
		return 1
	}
	b, err := os.ReadFile(cfg.Pid)
	if err != nil {
		stderrf(stderr, "error", "open() %q failed (%v)", cfg.Pid, unwrapErrno(err))
		return 1
	}
	text := strings.TrimSpace(string(b))
	pid, err := strconv.Atoi(text)
	if err != nil || pid <= 0 {
		stderrf(stderr, "error", "invalid PID number %q in %q", text, cfg.Pid)
		return 1
	}
	if err := syscall.Kill(pid, sig); err != nil {
		stderrf(stderr, "error", "kill(%d, %d) failed (%v)", pid, int(sig), err)
		return 1
	}
	return 0
}

func unwrapErrno(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		if en, ok := pe.Err.(syscall.Errno); ok {
			return fmt.Sprintf("%d: %s", int(en), en.Error())
		}
		return pe.Err.Error()
	}
	return err.Error()
}

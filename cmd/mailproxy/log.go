package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"syscall"

	"mailproxy/config"
	"mailproxy/loop"
)

// stderrf prints one nginx-style startup line: "mailproxy: [emerg] msg".
// Used before the configured error logs are open, and for -t.
func stderrf(w io.Writer, level, format string, a ...any) {
	prefix := "mailproxy: "
	if level != "" {
		prefix += "[" + level + "] "
	}
	fmt.Fprintf(w, prefix+format+"\n", a...)
}

// newLogger opens the main-context error_log targets.
func newLogger(cfg *config.Config) (*slog.Logger, *config.LogHandler, error) {
	h, err := config.NewLogHandler(cfg.ErrorLogs)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(h), h, nil
}

// noticeLevel maps a parser notice level to a slog level (unknown: warn).
func noticeLevel(name string) slog.Level {
	if l, ok := config.ParseLevel(name); ok {
		return l
	}
	return config.LevelWarn
}

// logNotices sends the parser's notices to the configured logs at their
// level, as nginx logs config warnings into its error log.
func logNotices(log *slog.Logger, ns []config.Notice) {
	for _, n := range ns {
		log.Log(context.Background(), noticeLevel(n.Level), n.Msg)
	}
}

// printNotices writes notices to stderr for -t: everything unless quiet,
// warn and above when quiet (nginx -q only hides the "syntax is ok" noise).
func printNotices(w io.Writer, ns []config.Notice, quiet bool) {
	for _, n := range ns {
		if quiet && noticeLevel(n.Level) < config.LevelWarn {
			continue
		}
		stderrf(w, n.Level, "%s", n.Msg)
	}
}

// logsToStderr reports whether a main error_log target is stderr.
func logsToStderr(cfg *config.Config) bool {
	for _, t := range cfg.ErrorLogs {
		if t.Path == "stderr" {
			return true
		}
	}
	return false
}

// nginxCompat is the nginx release whose mail module mailproxy is checked
// against; it appears in the start-up line.
const nginxCompat = "1.22.1"

// versionLine is the start-up line naming the version. It keeps
// mailproxy's own name first and carries "nginx/1.22.1" so that a tool
// grepping an nginx error log for `nginx/[0-9.]+` finds it after a
// migration too.
func versionLine() string {
	return "mailproxy/" + loop.Version + " (nginx/" + nginxCompat + " compatible)"
}

// logStartup writes, at notice, the lines nginx writes into every
// main-context error log when it starts: the event method, the version,
// the OS and the descriptor limit.
func logStartup(log *slog.Logger) {
	ctx := context.Background()
	switch runtime.GOOS {
	case "linux":
		log.Log(ctx, config.LevelNotice, `using the "epoll" event method`)
	case "darwin", "freebsd", "netbsd", "openbsd", "dragonfly":
		log.Log(ctx, config.LevelNotice, `using the "kqueue" event method`)
	}
	log.Log(ctx, config.LevelNotice, versionLine())
	log.Log(ctx, config.LevelNotice, "OS: "+osName())
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		log.Log(ctx, config.LevelNotice, fmt.Sprintf("getrlimit(RLIMIT_NOFILE): %d:%d", lim.Cur, lim.Max))
	}
}

// osName is "Linux 6.1.0-18-amd64" (uname's sysname and release, as nginx
// prints them), or GOOS where /proc does not say.
func osName() string {
	typ, err1 := os.ReadFile("/proc/sys/kernel/ostype")
	rel, err2 := os.ReadFile("/proc/sys/kernel/osrelease")
	if err1 != nil || err2 != nil {
		return runtime.GOOS
	}
	return strings.TrimSpace(string(typ)) + " " + strings.TrimSpace(string(rel))
}

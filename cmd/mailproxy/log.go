package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"mailproxy/config"
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

package config

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestLevels(t *testing.T) {
	f := func(name string, want slog.Level) {
		t.Helper()
		l, ok := ParseLevel(name)
		if !ok || l != want || LevelName(l) != name {
			t.Fatalf("%s: %v %v %s", name, l, ok, LevelName(l))
		}
	}
	f("debug", LevelDebug)
	f("info", LevelInfo)
	f("notice", LevelNotice)
	f("warn", LevelWarn)
	f("error", LevelError)
	f("crit", LevelCrit)
	f("alert", LevelAlert)
	f("emerg", LevelEmerg)
	if _, ok := ParseLevel("fatal"); ok {
		t.Fatal("fatal accepted")
	}
	if LevelName(LevelInfo+1) != "info" || LevelName(LevelDebug-10) != "debug" {
		t.Fatal("in-between levels")
	}
}

func TestLogHandler(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "error.log")
	h, err := NewLogHandler([]LogTarget{{Path: path, Level: "info"}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	log := slog.New(h)
	tm := time.Date(2026, 11, 25, 19, 0, 0, 0, time.Local)
	rec := func(level slog.Level, msg string, attrs ...slog.Attr) {
		r := slog.NewRecord(tm, level, msg, 0)
		r.AddAttrs(attrs...)
		if h.Enabled(context.Background(), level) {
			if err := h.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	rec(LevelError, "upstream timed out", slog.Uint64("conn", 42), slog.String("client", "1.2.3.4"),
		slog.String("server", "0.0.0.0:143"), slog.String("login", "bob"), slog.String("while", "proxying"))
	rec(LevelDebug, "not written")
	rec(LevelNotice, "hello", slog.Int("n", 3), slog.String("s", "two words"), slog.String("e", ""))
	log.With("conn", uint64(7), "client", "::1").WithGroup("g").Info("grouped", "k", "v")
	log.Log(context.Background(), LevelEmerg, "boom")

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(os.Getpid())
	ts := `\d{4}/\d\d/\d\d \d\d:\d\d:\d\d`
	want := []string{
		`^2026/11/25 19:00:00 \[error\] ` + pid + `#0: \*42 upstream timed out while proxying, client: 1\.2\.3\.4, server: 0\.0\.0\.0:143, login: "bob"$`,
		`^2026/11/25 19:00:00 \[notice\] ` + pid + `#0: hello, n: 3, s: "two words", e: ""$`,
		`^` + ts + ` \[info\] ` + pid + `#0: \*7 grouped, client: ::1, g\.k: v$`,
		`^` + ts + ` \[emerg\] ` + pid + `#0: boom$`,
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), data)
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(lines[i]) {
			t.Fatalf("line %d:\n%s\ndoes not match\n%s", i, lines[i], w)
		}
	}

	// Reopen after the file was moved away (logrotate) writes a new file.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := h.Reopen(); err != nil {
		t.Fatal(err)
	}
	log.Error("after reopen")
	data, _ = os.ReadFile(path)
	if !strings.Contains(string(data), "after reopen") || strings.Count(string(data), "\n") != 1 {
		t.Fatalf("reopened file: %q", data)
	}
}

func TestLogHandlerErrors(t *testing.T) {
	if _, err := NewLogHandler([]LogTarget{{Path: "stderr", Level: "loud"}}); err == nil {
		t.Fatal("bad level accepted")
	}
	_, err := NewLogHandler([]LogTarget{{Path: "/nonexistent-dir/x.log"}})
	if err == nil || err.Error() != `open() "/nonexistent-dir/x.log" failed (2: No such file or directory)` {
		t.Fatalf("open error: %v", err)
	}
	h, err := NewLogHandler(nil)
	if err != nil || h.Enabled(context.Background(), LevelWarn) || !h.Enabled(context.Background(), LevelError) {
		t.Fatalf("default handler: %v", err)
	}
}

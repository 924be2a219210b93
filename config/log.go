package config

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// nginx's error_log levels as slog levels. Debug, Info, Warn and Error are
// slog's own; the others sit between and above them so that ordering and
// "level and above" filtering work as in nginx.
const (
	LevelDebug  = slog.LevelDebug // -4
	LevelInfo   = slog.LevelInfo  // 0
	LevelNotice = slog.Level(2)
	LevelWarn   = slog.LevelWarn  // 4
	LevelError  = slog.LevelError // 8
	LevelCrit   = slog.Level(12)
	LevelAlert  = slog.Level(16)
	LevelEmerg  = slog.Level(20)
)

var levelByName = map[string]slog.Level{
	"debug": LevelDebug, "info": LevelInfo, "notice": LevelNotice, "warn": LevelWarn,
	"error": LevelError, "crit": LevelCrit, "alert": LevelAlert, "emerg": LevelEmerg,
}

// ParseLevel maps an nginx level name to its slog level.
func ParseLevel(name string) (slog.Level, bool) {
	l, ok := levelByName[name]
	return l, ok
}

// LevelName is the nginx name of l (a level between two named ones takes
// the lower name).
func LevelName(l slog.Level) string {
	switch {
	case l >= LevelEmerg:
		return "emerg"
	case l >= LevelAlert:
		return "alert"
	case l >= LevelCrit:
		return "crit"
	case l >= LevelError:
		return "error"
	case l >= LevelWarn:
		return "warn"
	case l >= LevelNotice:
		return "notice"
	case l >= LevelInfo:
		return "info"
	}
	return "debug"
}

// logOutput is one error_log target.
type logOutput struct {
	path    string // "stderr", a file path, or "syslog:..." / "memory:..." as written
	level   slog.Level
	f       *os.File      // nil for stderr, syslog and memory
	sys     *syslogSender // syslog: targets
	discard bool          // memory: targets
}

// logShared is what all handlers derived from one NewLogHandler share.
type logShared struct {
	mu   sync.Mutex // serialises writes and Reopen
	outs []*logOutput
	min  slog.Level
	pid  string
}

// LogHandler is a slog.Handler writing nginx-style error_log lines:
//
//	2026/11/25 19:00:00 [error] 1234#0: *42 message while proxying, client: 1.2.3.4, server: 0.0.0.0:143, login: "bob"
//
// The "*42" part comes from an attribute named "conn" (an integer), the
// " while X" part from an attribute named "while"; every other attribute
// is appended as ", key: value" (quoted when it is a "login", empty, or
// holds spaces or control bytes). It is safe for concurrent use.
type LogHandler struct {
	sh     *logShared
	attrs  []byte // preformatted ", k: v" of WithAttrs
	conn   string // preformatted "*N " of WithAttrs
	while  string
	prefix string // group prefix for keys
}

// NewLogHandler opens every target (files with O_APPEND|O_CREATE, mode
// 0644; "stderr" is the process's stderr). A syslog target connects on its
// first message, from its own goroutine (syslog_send.go); a memory target
// takes its messages and discards them. An empty list means stderr at
// error, nginx's default level.
func NewLogHandler(targets []LogTarget) (*LogHandler, error) {
	if len(targets) == 0 {
		targets = []LogTarget{{Path: "stderr", Level: "error"}}
	}
	sh := &logShared{min: LevelEmerg + 1, pid: strconv.Itoa(os.Getpid())}
	for _, t := range targets {
		lv := LevelError
		if t.Level != "" {
			var ok bool
			if lv, ok = ParseLevel(t.Level); !ok {
				sh.close()
				return nil, fmt.Errorf("invalid log level %q", t.Level)
			}
		}
		o := &logOutput{path: t.Path, level: lv}
		switch {
		case t.Syslog != nil:
			o.sys = newSyslogSender(t.Syslog, &sh.mu, sh.report)
		case t.Memory > 0:
			o.discard = true
		case t.Path != "stderr":
			f, err := logOpen(t.Path)
			if err != nil {
				sh.close()
				return nil, err
			}
			o.f = f
		}
		sh.outs = append(sh.outs, o)
		sh.min = min(sh.min, lv)
	}
	return &LogHandler{sh: sh}, nil
}

func logOpen(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf(`open() "%s" failed %s`, path, syscallErr(err))
	}
	return f, nil
}

// close closes the files and returns the syslog senders, for the caller
// to close once it has released mu.
func (sh *logShared) close() []*syslogSender {
	var sys []*syslogSender
	for _, o := range sh.outs {
		if o.f != nil {
			o.f.Close()
		}
		if o.sys != nil {
			sys = append(sys, o.sys)
		}
	}
	return sys
}

// Reopen reopens every log file (after logrotate moved it: USR1) and makes
// syslog targets reconnect before their next message (a syslog daemon
// restarted with a new socket). On a failure the old file stays in use and
// the first error is returned.
func (h *LogHandler) Reopen() error {
	h.sh.mu.Lock()
	defer h.sh.mu.Unlock()
	var first error
	for _, o := range h.sh.outs {
		if o.sys != nil {
			o.sys.redial.Store(true)
		}
		if o.f == nil {
			continue
		}
		f, err := logOpen(o.path)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		o.f.Close()
		o.f = f
	}
	return first
}

// Close closes the log files and flushes and closes the syslog targets
// (waiting a bounded time); stderr stays open.
func (h *LogHandler) Close() error {
	// The syslog senders first: draining their queues may report a
	// failure into the files, which must still be open.
	h.sh.mu.Lock()
	var sys []*syslogSender
	for _, o := range h.sh.outs {
		if o.sys != nil {
			sys = append(sys, o.sys)
		}
	}
	h.sh.mu.Unlock()
	for _, s := range sys {
		s.closeOwned()
	}
	h.sh.mu.Lock()
	h.sh.close()
	h.sh.mu.Unlock()
	return nil
}

// Enabled reports whether any target takes level l.
func (h *LogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.sh.min }

// Handle formats r once and writes it to every target whose level it meets.
func (h *LogHandler) Handle(_ context.Context, r slog.Record) error {
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	b := make([]byte, 0, 256)
	b = t.AppendFormat(b, "2006/01/02 15:04:05")
	b = append(b, " ["...)
	b = append(b, LevelName(r.Level)...)
	b = append(b, "] "...)
	b = append(b, h.sh.pid...)
	b = append(b, "#0: "...)
	conn, while := h.conn, h.while
	var tail []byte
	r.Attrs(func(a slog.Attr) bool {
		tail, conn, while = h.appendAttr(tail, a, h.prefix, conn, while)
		return true
	})
	b = append(b, conn...)
	b = append(b, r.Message...)
	if while != "" {
		b = append(b, " while "...)
		b = append(b, while...)
	}
	b = append(b, h.attrs...)
	b = append(b, tail...)
	b = append(b, '\n')
	return h.sh.write(t, r.Level, b, true)
}

// write sends one formatted line (ending in a newline) to every output
// whose level it meets; to the syslog ones only when toSyslog.
func (sh *logShared) write(t time.Time, level slog.Level, b []byte, toSyslog bool) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var first error
	for _, o := range sh.outs {
		if level < o.level || o.discard {
			continue
		}
		if o.sys != nil {
			if toSyslog {
				o.sys.send(o.sys.datagram(t, level, b[:len(b)-1]))
			}
			continue
		}
		w := o.f
		if w == nil {
			w = os.Stderr
		}
		if _, err := w.Write(b); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// report writes a line about the logging itself (a syslog server that
// does not answer) to the file and stderr outputs, never to syslog; when
// there are only syslog and memory outputs, to stderr, so it is not lost.
// Called from a syslog sender's goroutine.
func (sh *logShared) report(level slog.Level, msg string) {
	t := time.Now()
	b := t.AppendFormat(make([]byte, 0, 128+len(msg)), "2006/01/02 15:04:05")
	b = append(b, " ["...)
	b = append(b, LevelName(level)...)
	b = append(b, "] "...)
	b = append(b, sh.pid...)
	b = append(b, "#0: "...)
	b = append(b, msg...)
	b = append(b, '\n')
	sh.mu.Lock()
	plain := false
	for _, o := range sh.outs {
		plain = plain || (o.sys == nil && !o.discard)
	}
	sh.mu.Unlock()
	if !plain {
		os.Stderr.Write(b)
		return
	}
	sh.write(t, level, b, false)
}

// SyslogDropped is the number of messages this handler's syslog targets
// dropped (queue full, or the send failed).
func (h *LogHandler) SyslogDropped() uint64 {
	h.sh.mu.Lock()
	defer h.sh.mu.Unlock()
	var n uint64
	for _, o := range h.sh.outs {
		if o.sys != nil {
			n += o.sys.dropped.Load()
		}
	}
	return n
}

// appendAttr formats one attribute, picking out "conn" and "while".
func (h *LogHandler) appendAttr(b []byte, a slog.Attr, prefix, conn, while string) ([]byte, string, string) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return b, conn, while
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			b, conn, while = h.appendAttr(b, g, p, conn, while)
		}
		return b, conn, while
	}
	if prefix == "" {
		switch a.Key {
		case "conn":
			switch a.Value.Kind() {
			case slog.KindUint64:
				return b, "*" + strconv.FormatUint(a.Value.Uint64(), 10) + " ", while
			case slog.KindInt64:
				return b, "*" + strconv.FormatInt(a.Value.Int64(), 10) + " ", while
			}
		case "while":
			return b, conn, a.Value.String()
		}
	}
	b = append(b, ", "...)
	b = append(b, prefix...)
	b = append(b, a.Key...)
	b = append(b, ": "...)
	s := a.Value.String()
	if a.Value.Kind() == slog.KindTime {
		s = a.Value.Time().Format("2006/01/02 15:04:05")
	}
	if a.Key == "login" || logNeedsQuote(s) {
		b = strconv.AppendQuote(b, s)
	} else {
		b = append(b, s...)
	}
	return b, conn, while
}

func logNeedsQuote(s string) bool {
	if s == "" {
		return true
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == 0x7f || r == utf8.RuneError {
			return true
		}
	}
	return false
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]byte(nil), h.attrs...)
	for _, a := range attrs {
		h2.attrs, h2.conn, h2.while = h.appendAttr(h2.attrs, a, h.prefix, h2.conn, h2.while)
	}
	return &h2
}

// WithGroup returns a handler that prefixes later keys with "name.".
func (h *LogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

package loop

import (
	"log/slog"
	"strings"

	"mailproxy/config"
)

// serverLog returns the logger of a server: its own error_log (set in the
// server or inherited from mail{}) when it has one, as nginx's mail
// error_log does, else the main one. Handlers are shared by servers with
// the same targets and kept across reloads so files are opened once.
// Called on the goroutine running Run.
func (rt *runtimeState) serverLog(sc *config.Server) (*slog.Logger, error) {
	if len(sc.ErrorLogs) == 0 {
		return rt.log, nil
	}
	var k strings.Builder
	for _, t := range sc.ErrorLogs {
		k.WriteString(t.Path)
		k.WriteByte(0)
		k.WriteString(t.Level)
		k.WriteByte(0)
	}
	key := k.String()
	if h := rt.logHandlers[key]; h != nil {
		return slog.New(h), nil
	}
	h, err := config.NewLogHandler(sc.ErrorLogs)
	if err != nil {
		return nil, err
	}
	if rt.logHandlers == nil {
		rt.logHandlers = map[string]*config.LogHandler{}
	}
	rt.logHandlers[key] = h
	return slog.New(h), nil
}

// printable renders bytes for a log line: control and non-ASCII bytes
// (a CRLF too, where nginx logs one, as in "client was rejected") shown as
// '_', and cut at 200 bytes.
func printable(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			out = append(out, '_')
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

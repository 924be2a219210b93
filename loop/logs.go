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

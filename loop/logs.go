package loop

import (
	"bytes"
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

// clientText renders bytes a client sent, for a log line that quotes them
// (an early talker, a broken PROXY header): the first line only, cut at
// 100 bytes, with everything after a command that carries credentials
// replaced by "...", so that no password, SASL response or token reaches
// a log (README "Security"); then as printable.
func clientText(b []byte) string {
	const max = 100
	all := len(b)
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	cut := len(b)
	if cut > max {
		cut = max
	}
	// Up to three words: an IMAP tag, the verb, a SASL mechanism.
	words := 0
	for i := 0; i < len(b) && words < 3; {
		for i < len(b) && b[i] == ' ' {
			i++
		}
		start := i
		for i < len(b) && b[i] != ' ' {
			i++
		}
		if start == i {
			break
		}
		words++
		switch w := string(bytes.ToUpper(b[start:i])); w {
		case "LOGIN", "PASS", "APOP":
			// The rest is a user name and password (or the login).
			cut = min(cut, i)
			words = 3
		case "AUTH", "AUTHENTICATE":
			// Keep the mechanism, drop the initial response.
			for i < len(b) && b[i] == ' ' {
				i++
			}
			for i < len(b) && b[i] != ' ' {
				i++
			}
			cut = min(cut, i)
			words = 3
		}
	}
	out := printable(b[:cut])
	if cut < all {
		out += "..."
	}
	return out
}

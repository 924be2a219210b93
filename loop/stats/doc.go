// Package stats is mailproxy's Prometheus metrics, on
// VictoriaMetrics/metrics: one ListenerStats per listener (connections by
// phase, auth_http results and latency, backend connects, sessions, relay
// bytes, invalid commands, timeouts, TLS handshakes), the process-wide
// series (config reloads, build info, auth_http connections, recovered
// panics), and WriteScrape, the exposition the admin listener serves
// (with HELP lines, Prometheus naming fixes, Go and process metrics).
// Labels are bounded sets (protocol, listener, result, reason), never a
// user or an address.
//
// Goroutines: every method is safe from any goroutine. The relay's
// per-byte counters (Bytes, InvalidCommand) take the event loop's index
// and write only that loop's shard, summed at scrape; per-session events
// use shared atomics and the histograms a short mutex. WriteScrape
// serialises scrapes.
package stats

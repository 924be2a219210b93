package stats

import (
	"bytes"
	"io"
	"strings"
	"sync"

	vm "github.com/VictoriaMetrics/metrics"
)

// The exposition. VictoriaMetrics/metrics writes `# HELP name` without text,
// and a few of its go_*/process_* series break Prometheus naming rules
// (`promtool check metrics` warns on them). The scrape is therefore passed
// through metricLint, which adds help text, types the process_io_*_total
// gauges as the counters they are, and renames three `_count` series that
// are not summaries or histograms. The mailproxy_* families must all have an
// entry in metricHelp (a test checks it).

var metricHelp = map[string]string{
	"mailproxy_connections_accepted_total":                   "Client connections accepted by a listener.",
	"mailproxy_connections_rejected_total":                   "Client connections closed at accept, by reason (limit, draining, error).",
	"mailproxy_connections_current":                          "Client connections open now, by session phase.",
	"mailproxy_connections_max_errors_closed_total":          "Client connections closed after too many invalid commands (max_errors).",
	"mailproxy_timeouts_total":                               "Connections closed by a timeout, by session phase.",
	"mailproxy_auth_http_requests_total":                     "auth_http requests by result (ok, fail, wait, error, timeout, overload).",
	"mailproxy_auth_http_request_duration_seconds":           "Time from sending an auth_http request to having its answer.",
	"mailproxy_auth_http_connections_opened_total":           "TCP connections opened to an auth_http endpoint; compare with requests to see keepalive reuse.",
	"mailproxy_auth_http_endpoint_requests_total":            "auth_http requests sent to each auth server of auth_http.",
	"mailproxy_auth_http_endpoint_errors_total":              "auth_http requests to each auth server that ended in an error (no answer, or a broken one).",
	"mailproxy_auth_http_endpoint_up":                        "1 while an auth server is in service, 0 while it is marked down after not answering.",
	"mailproxy_auth_http_cache_total":                        "auth cache look-ups (auth_http_cache) by result: hit, miss.",
	"mailproxy_backend_connect_duration_seconds":             "Time to establish a backend TCP connection, successful dials only.",
	"mailproxy_backend_connect_errors_total":                 "Failed backend dials by type (refused, timeout, unreachable, other).",
	"mailproxy_sessions_established_total":                   "Sessions that logged in at the backend and entered relay.",
	"mailproxy_session_duration_seconds":                     "Duration of sessions that reached relay, from accept to close.",
	"mailproxy_relay_bytes_total":                            "Bytes relayed between client and backend, by direction.",
	"mailproxy_commands_invalid_total":                       "Invalid commands received from clients before authentication.",
	"mailproxy_tls_handshakes_total":                         "Client TLS handshakes by result (ok, fail, timeout).",
	"mailproxy_config_reloads_total":                         "Configuration reloads by result.",
	"mailproxy_config_last_reload_successful":                "Whether the last configuration reload succeeded (1) or failed (0).",
	"mailproxy_config_last_reload_success_timestamp_seconds": "Unix time of the last successful configuration load.",
	"mailproxy_build_info":                                   "Build information; the value is always 1.",
	"mailproxy_log_messages_dropped_total":                   "Log messages dropped because a syslog target was down or its queue full.",
	"mailproxy_limit_refusals_total":                         "Connections and logins refused by the edge defence, by reason (access, conn_cap, rate, preauth, budget).",
	"mailproxy_limit_bans_total":                             "Bans started by limit_auth_fail, by type (ip, login).",
	"mailproxy_limit_tracked_keys":                           "Keys (addresses, logins, trusted address+login pairs) in the edge-defence tables.",
	"mailproxy_limit_store_errors_total":                     "Calls to the limit_store (Redis) that failed or timed out; counting stays local meanwhile.",
	"mailproxy_panics_total":                                 "Panics recovered: each ended one session (or one auth_http call or handshake), logged at crit with its stack.",

	"go_goroutines":                 "Number of goroutines that currently exist.",
	"go_threads":                    "Number of OS threads created.",
	"go_gomaxprocs":                 "GOMAXPROCS: OS threads that can execute Go code at once.",
	"go_info":                       "Go version; the value is always 1.",
	"go_info_ext":                   "Go build details; the value is always 1.",
	"go_cpu_cores":                  "Logical CPUs usable by the process (runtime.NumCPU).",
	"go_cgo_calls_total":            "cgo calls made by the process.",
	"go_gc_forced_total":            "Garbage collections forced by the application.",
	"go_gc_duration_seconds":        "Summary of garbage collection pause durations.",
	"go_gc_pauses_seconds":          "Distribution of stop-the-world garbage collection pauses.",
	"go_sched_latencies_seconds":    "Distribution of the time goroutines spent runnable before running.",
	"go_memlimit_bytes":             "Go runtime soft memory limit (GOMEMLIMIT).",
	"process_cpu_seconds_total":     "Total user and system CPU time spent.",
	"process_open_fds":              "Number of open file descriptors.",
	"process_max_fds":               "Maximum number of open file descriptors.",
	"process_resident_memory_bytes": "Resident memory size.",
	"process_virtual_memory_bytes":  "Virtual memory size.",
	"process_start_time_seconds":    "Start time of the process since the Unix epoch.",
}

// metricRenames maps VictoriaMetrics series names that break the Prometheus
// naming rules to names that follow them.
var metricRenames = map[string]string{
	"go_cgo_calls_count": "go_cgo_calls_total",
	"go_gc_forced_count": "go_gc_forced_total",
	"go_cpu_count":       "go_cpu_cores",
}

var metricScrapeMu sync.Mutex

// WriteScrape writes the whole exposition: mailproxy_* metrics, Go and
// process metrics, and the fd counts. Scrapes are serialised: the collected
// counters never go backwards and only one /proc/self/fd walk runs at a time.
func WriteScrape(w io.Writer) error {
	metricScrapeMu.Lock()
	defer metricScrapeMu.Unlock()
	metricCollect()
	var raw bytes.Buffer
	vm.WritePrometheus(&raw, true)
	vm.WriteFDMetrics(&raw)
	_, err := w.Write(metricLint(make([]byte, 0, raw.Len()+raw.Len()/2), raw.Bytes()))
	return err
}

// metricLint rewrites an exposition line by line as described at the top of
// this file and appends the result to dst.
func metricLint(dst, src []byte) []byte {
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		switch {
		case bytes.HasPrefix(line, []byte("# HELP ")):
			name, text, _ := strings.Cut(string(line[len("# HELP "):]), " ")
			name = metricRename(name)
			if text = strings.TrimSpace(text); text == "" {
				text = metricHelpText(name)
			}
			dst = append(dst, "# HELP "...)
			dst = append(dst, name...)
			dst = append(dst, ' ')
			dst = append(dst, text...)
		case bytes.HasPrefix(line, []byte("# TYPE ")):
			name, typ, _ := strings.Cut(string(line[len("# TYPE "):]), " ")
			name = metricRename(name)
			if typ == "gauge" && strings.HasSuffix(name, "_total") {
				typ = "counter" // process_io_*_total are cumulative
			}
			dst = append(dst, "# TYPE "...)
			dst = append(dst, name...)
			dst = append(dst, ' ')
			dst = append(dst, typ...)
		default:
			end := bytes.IndexAny(line, "{ ")
			if end < 0 {
				end = len(line)
			}
			if to, ok := metricRenames[string(line[:end])]; ok {
				dst = append(dst, to...)
				line = line[end:]
			}
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
	}
	return dst
}

func metricRename(name string) string {
	if to, ok := metricRenames[name]; ok {
		return to
	}
	return name
}

// metricHelpText returns the help text of a family; families of the Go
// runtime and process collectors without an entry get a generic line.
func metricHelpText(name string) string {
	if h, ok := metricHelp[name]; ok {
		return h
	}
	if strings.HasPrefix(name, "process_") {
		return "Process metric " + name + " (VictoriaMetrics/metrics process collector)."
	}
	if strings.HasPrefix(name, "go_") {
		return "Go runtime metric " + name + " (VictoriaMetrics/metrics runtime collector)."
	}
	return "Metric " + name + "."
}

package stats

import (
	"runtime"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Process-wide metrics: auth_http connection counts, config reloads, build
// info. All are registered in metricSet next to the listener metrics.

var (
	metricGlobalMu  sync.Mutex
	metricAuthConns = map[string]metricAuthConn{} // by endpoint
	metricBuildName string                        // the registered build_info series, "" before SetBuildInfo
)

type metricAuthConn struct {
	c *vm.Counter
	f func() uint64
}

var (
	metricReloadOK   = metricSet.NewCounter(`mailproxy_config_reloads_total{result="ok"}`)
	metricReloadFail = metricSet.NewCounter(`mailproxy_config_reloads_total{result="fail"}`)
	// The configuration loaded at start counts as a success at process start.
	metricReloadLast   = metricSet.NewGauge(`mailproxy_config_last_reload_successful`, nil)
	metricReloadLastOK = metricSet.NewGauge(`mailproxy_config_last_reload_success_timestamp_seconds`, nil)
)

// metricPanics counts recovered panics (loop/recover.go).
var metricPanics = metricSet.NewCounter(`mailproxy_panics_total`)

// Panic counts one recovered panic. Safe from any goroutine.
func Panic() { metricPanics.Inc() }

func init() {
	metricReloadLast.Set(1)
	metricReloadLastOK.Set(metricUnixSeconds(time.Now()))
}

// AuthConnsOpened registers mailproxy_auth_http_connections_opened_total
// for one auth_http endpoint ("127.0.0.1:9000"); f is called at scrape time
// and returns how many TCP connections the client has opened so far, so the
// ratio to requests shows keepalive reuse. Calling it again for the same
// endpoint replaces f; a nil f removes the series.
func AuthConnsOpened(endpoint string, f func() uint64) {
	metricGlobalMu.Lock()
	defer metricGlobalMu.Unlock()
	name := `mailproxy_auth_http_connections_opened_total{endpoint="` + metricEscape(endpoint) + `"}`
	old, ok := metricAuthConns[endpoint]
	if f == nil {
		if ok {
			metricSet.UnregisterMetric(name)
			delete(metricAuthConns, endpoint)
		}
		return
	}
	if !ok {
		old.c = metricSet.NewCounter(name)
	}
	old.f = f
	metricAuthConns[endpoint] = old
}

// ConfigReload records the outcome of a configuration reload (SIGHUP).
func ConfigReload(ok bool) {
	if !ok {
		metricReloadFail.Inc()
		metricReloadLast.Set(0)
		return
	}
	metricReloadOK.Inc()
	metricReloadLast.Set(1)
	metricReloadLastOK.Set(metricUnixSeconds(time.Now()))
}

// SetBuildInfo exposes mailproxy_build_info{version, goversion} 1. A second
// call replaces the first.
func SetBuildInfo(version string) {
	metricGlobalMu.Lock()
	defer metricGlobalMu.Unlock()
	name := `mailproxy_build_info{version="` + metricEscape(version) + `",goversion="` + metricEscape(runtime.Version()) + `"}`
	if name == metricBuildName {
		return
	}
	if metricBuildName != "" {
		metricSet.UnregisterMetric(metricBuildName)
	}
	metricSet.NewGauge(name, func() float64 { return 1 })
	metricBuildName = name
}

// metricLogDropped is mailproxy_log_messages_dropped_total, read at
// scrape from the function LogDropped registered.
var (
	metricLogDropped  = metricSet.NewCounter(`mailproxy_log_messages_dropped_total`)
	metricLogDroppedF func() uint64
)

// LogDropped registers f, which returns how many log messages were
// dropped so far (a syslog target down or its queue full), for
// mailproxy_log_messages_dropped_total. Safe from any goroutine.
func LogDropped(f func() uint64) {
	metricGlobalMu.Lock()
	defer metricGlobalMu.Unlock()
	metricLogDroppedF = f
}

// metricCollectGlobals reads the auth_http connection counts and the
// dropped log messages; called at scrape under the scrape lock.
func metricCollectGlobals() {
	metricGlobalMu.Lock()
	defer metricGlobalMu.Unlock()
	for _, a := range metricAuthConns {
		a.c.Set(a.f())
	}
	metricCollectAuthEndpoints()
	if metricLogDroppedF != nil {
		metricLogDropped.Set(metricLogDroppedF())
	}
}

func metricUnixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

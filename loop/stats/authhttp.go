package stats

import vm "github.com/VictoriaMetrics/metrics"

// auth_http per-server metrics (several servers, issue 15) and the auth
// cache's hits and misses. The endpoint label comes from the config's
// auth_http URLs (at most 16 per directive), never from a request.

// metricAuthEndpoints: by endpoint, guarded by metricGlobalMu.
var metricAuthEndpoints = map[string]metricAuthEndpoint{}

type metricAuthEndpoint struct {
	req, errs *vm.Counter
	up        *vm.Gauge
	f         AuthEndpointFuncs
}

// AuthEndpointFuncs read one auth_http server's counters at scrape time.
type AuthEndpointFuncs struct {
	Requests, Errors func() uint64
	Up               func() bool
}

// AuthEndpoint registers mailproxy_auth_http_endpoint_requests_total,
// mailproxy_auth_http_endpoint_errors_total and
// mailproxy_auth_http_endpoint_up for one auth_http server ("host:port");
// f is read at scrape time. Calling it again for the same endpoint
// replaces f; a zero f (nil Requests) removes the series. Safe from any
// goroutine.
func AuthEndpoint(endpoint string, f AuthEndpointFuncs) {
	metricGlobalMu.Lock()
	defer metricGlobalMu.Unlock()
	label := `{endpoint="` + metricEscape(endpoint) + `"}`
	names := [3]string{
		`mailproxy_auth_http_endpoint_requests_total` + label,
		`mailproxy_auth_http_endpoint_errors_total` + label,
		`mailproxy_auth_http_endpoint_up` + label,
	}
	old, ok := metricAuthEndpoints[endpoint]
	if f.Requests == nil {
		if ok {
			for _, n := range names {
				metricSet.UnregisterMetric(n)
			}
			delete(metricAuthEndpoints, endpoint)
		}
		return
	}
	if !ok {
		old.req = metricSet.NewCounter(names[0])
		old.errs = metricSet.NewCounter(names[1])
		old.up = metricSet.NewGauge(names[2], nil)
	}
	old.f = f
	metricAuthEndpoints[endpoint] = old
}

// metricCollectAuthEndpoints reads the registered functions; called by
// metricCollectGlobals with metricGlobalMu held.
func metricCollectAuthEndpoints() {
	for _, e := range metricAuthEndpoints {
		e.req.Set(e.f.Requests())
		e.errs.Set(e.f.Errors())
		up := 0.0
		if e.f.Up() {
			up = 1
		}
		e.up.Set(up)
	}
}

var (
	metricAuthCacheHit  = metricSet.NewCounter(`mailproxy_auth_http_cache_total{result="hit"}`)
	metricAuthCacheMiss = metricSet.NewCounter(`mailproxy_auth_http_cache_total{result="miss"}`)
)

// AuthCache counts one auth cache lookup. Safe from any goroutine.
func AuthCache(hit bool) {
	if hit {
		metricAuthCacheHit.Inc()
		return
	}
	metricAuthCacheMiss.Inc()
}

package stats

import (
	"sync/atomic"

	vm "github.com/VictoriaMetrics/metrics"
)

// Edge-defence metrics (loop/limits): refusals by reason, bans by kind,
// the tracked keys, and the Redis store's trouble. Labels are bounded:
// never an address or a login.

var metricLimitReasons = []string{"access", "conn_cap", "rate", "preauth", "budget", "other"}

var (
	metricLimitRefusals = func() []*vm.Counter {
		out := make([]*vm.Counter, len(metricLimitReasons))
		for i, r := range metricLimitReasons {
			out[i] = metricSet.NewCounter(`mailproxy_limit_refusals_total{reason="` + r + `"}`)
		}
		return out
	}()
	metricLimitBanIP    = metricSet.NewCounter(`mailproxy_limit_bans_total{type="ip"}`)
	metricLimitBanLogin = metricSet.NewCounter(`mailproxy_limit_bans_total{type="login"}`)
	metricLimitStoreErr = metricSet.NewCounter(`mailproxy_limit_store_errors_total`)
	metricLimitTracked  atomic.Pointer[func() int64]
	_                   = metricSet.NewGauge(`mailproxy_limit_tracked_keys`, func() float64 {
		if f := metricLimitTracked.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
)

// LimitRefused counts one connection or login refused by the edge
// defence, by reason (access, conn_cap, rate, preauth, budget). Safe from
// any goroutine.
func LimitRefused(reason string) {
	for i, r := range metricLimitReasons {
		if r == reason {
			metricLimitRefusals[i].Inc()
			return
		}
	}
	metricLimitRefusals[len(metricLimitRefusals)-1].Inc()
}

// LimitBan counts a ban started on an address (ip) or a login.
func LimitBan(login bool) {
	if login {
		metricLimitBanLogin.Inc()
		return
	}
	metricLimitBanIP.Inc()
}

// LimitStoreError counts a failed or timed-out call to the shared store.
func LimitStoreError() { metricLimitStoreErr.Inc() }

// LimitTracked sets the function the tracked-keys gauge reads at scrape.
func LimitTracked(f func() int64) { metricLimitTracked.Store(&f) }

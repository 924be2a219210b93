package stats

import "testing"

func TestLimitMetrics(t *testing.T) {
	before := metricSamples(t, metricScrape(t))
	LimitRefused("conn_cap")
	LimitRefused("conn_cap")
	LimitRefused("nonsense") // counted as other, never a new series
	LimitBan(true)
	LimitStoreError()
	LimitTracked(func() int64 { return 42 })
	after := metricSamples(t, metricScrape(t))
	f := func(series string, delta float64) {
		t.Helper()
		if got := after[series] - before[series]; got != delta {
			t.Errorf("%s: +%v, want +%v", series, got, delta)
		}
	}
	f(`mailproxy_limit_refusals_total{reason="conn_cap"}`, 2)
	f(`mailproxy_limit_refusals_total{reason="other"}`, 1)
	f(`mailproxy_limit_bans_total{type="login"}`, 1)
	f(`mailproxy_limit_bans_total{type="ip"}`, 0)
	f(`mailproxy_limit_store_errors_total`, 1)
	if v := after["mailproxy_limit_tracked_keys"]; v != 42 {
		t.Errorf("tracked keys %v, want 42", v)
	}
	if _, ok := after[`mailproxy_limit_refusals_total{reason="nonsense"}`]; ok {
		t.Error("an unknown reason made a series")
	}
}

package stats

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricScrape returns the whole exposition as the admin listener serves it.
func metricScrape(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteScrape(&b); err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return b.String()
}

// metricSamples parses an exposition into series -> value.
func metricSamples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample value in %q: %v", line, err)
		}
		if _, dup := m[line[:i]]; dup {
			t.Fatalf("duplicate series %q", line[:i])
		}
		m[line[:i]] = v
	}
	return m
}

// metricPromtool fails the test unless `promtool check metrics` accepts the
// exposition without a single warning.
func metricPromtool(t *testing.T, text string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (Debian package prometheus): %v", err)
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// metricDriveTraffic drives s as the engine would for a small, known load:
// three connections, two of which authenticate and one of which reaches relay.
func metricDriveTraffic(s *ListenerStats) {
	for range 3 {
		s.Accepted()
		s.Enter(PhasePreAuth)
	}
	s.Rejected("limit")
	s.Rejected("no-such-reason") // counted as "other"

	// Connection 1: invalid commands, then closed by max_errors.
	s.InvalidCommand(0)
	s.InvalidCommand(1)
	s.MaxErrorsClose()
	s.Leave(PhasePreAuth)

	// Connection 2: auth fails, then times out in pre-auth.
	s.Enter(PhaseAuth)
	s.Leave(PhasePreAuth)
	s.AuthDone("fail", 2*time.Second)
	s.Enter(PhasePreAuth)
	s.Leave(PhaseAuth)
	s.Timeout(PhasePreAuth)
	s.Leave(PhasePreAuth)

	// Connection 3: TLS, auth ok, a refused dial then a good one, relay.
	s.TLSHandshake("ok")
	s.Enter(PhaseAuth)
	s.Leave(PhasePreAuth)
	s.AuthDone("ok", 20*time.Millisecond)
	s.Enter(PhaseBackendLogin)
	s.Leave(PhaseAuth)
	s.BackendConnect(time.Second, "refused")
	s.BackendConnect(3*time.Millisecond, "")
	s.Enter(PhaseRelay)
	s.Leave(PhaseBackendLogin)
	s.SessionEstablished()
	s.Bytes(0, true, 100)
	s.Bytes(1, true, 50)
	s.Bytes(1, false, 7000)
	s.Bytes(99, false, 1) // outside the loop range: still counted
	s.Bytes(1, false, 0)
}

func TestListenerStatsCounts(t *testing.T) {
	s := NewListenerStats("imap", "127.0.0.1:10143", 2)
	defer s.Unregister()
	metricDriveTraffic(s)

	text := metricScrape(t)
	got := metricSamples(t, text)
	const l = `protocol="imap",listener="127.0.0.1:10143"`
	f := func(series string, want float64) {
		t.Helper()
		v, ok := got[series]
		if !ok {
			t.Errorf("series %s missing", series)
			return
		}
		if v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
	f(`mailproxy_connections_accepted_total{`+l+`}`, 3)
	f(`mailproxy_connections_rejected_total{`+l+`,reason="limit"}`, 1)
	f(`mailproxy_connections_rejected_total{`+l+`,reason="draining"}`, 0)
	f(`mailproxy_connections_rejected_total{`+l+`,reason="other"}`, 1)
	f(`mailproxy_connections_current{`+l+`,phase="pre_auth"}`, 0)
	f(`mailproxy_connections_current{`+l+`,phase="auth"}`, 0)
	f(`mailproxy_connections_current{`+l+`,phase="backend_login"}`, 0)
	f(`mailproxy_connections_current{`+l+`,phase="relay"}`, 1)
	f(`mailproxy_commands_invalid_total{`+l+`}`, 2)
	f(`mailproxy_connections_max_errors_closed_total{`+l+`}`, 1)
	f(`mailproxy_timeouts_total{`+l+`,phase="pre_auth"}`, 1)
	f(`mailproxy_timeouts_total{`+l+`,phase="relay"}`, 0)
	f(`mailproxy_tls_handshakes_total{`+l+`,result="ok"}`, 1)
	f(`mailproxy_tls_handshakes_total{`+l+`,result="fail"}`, 0)
	f(`mailproxy_auth_http_requests_total{`+l+`,result="ok"}`, 1)
	f(`mailproxy_auth_http_requests_total{`+l+`,result="fail"}`, 1)
	f(`mailproxy_auth_http_requests_total{`+l+`,result="timeout"}`, 0)
	f(`mailproxy_auth_http_request_duration_seconds_bucket{`+l+`,le="0.01"}`, 0)
	f(`mailproxy_auth_http_request_duration_seconds_bucket{`+l+`,le="0.025"}`, 1)
	f(`mailproxy_auth_http_request_duration_seconds_bucket{`+l+`,le="2.5"}`, 2)
	f(`mailproxy_auth_http_request_duration_seconds_bucket{`+l+`,le="+Inf"}`, 2)
	f(`mailproxy_auth_http_request_duration_seconds_sum{`+l+`}`, 2.02)
	f(`mailproxy_auth_http_request_duration_seconds_count{`+l+`}`, 2)
	f(`mailproxy_backend_connect_errors_total{`+l+`,type="refused"}`, 1)
	f(`mailproxy_backend_connect_errors_total{`+l+`,type="timeout"}`, 0)
	f(`mailproxy_backend_connect_duration_seconds_count{`+l+`}`, 1)
	f(`mailproxy_backend_connect_duration_seconds_bucket{`+l+`,le="0.0025"}`, 0)
	f(`mailproxy_backend_connect_duration_seconds_bucket{`+l+`,le="0.005"}`, 1)
	f(`mailproxy_sessions_established_total{`+l+`}`, 1)
	f(`mailproxy_relay_bytes_total{`+l+`,direction="to_backend"}`, 150)
	f(`mailproxy_relay_bytes_total{`+l+`,direction="to_client"}`, 7001)
	f(`mailproxy_session_duration_seconds_count{`+l+`}`, 0)

	// The session ends: gauges back to zero, duration recorded.
	s.Leave(PhaseRelay)
	s.SessionClosed(90 * time.Second)
	got = metricSamples(t, metricScrape(t))
	f(`mailproxy_connections_current{`+l+`,phase="relay"}`, 0)
	f(`mailproxy_session_duration_seconds_bucket{`+l+`,le="60"}`, 0)
	f(`mailproxy_session_duration_seconds_bucket{`+l+`,le="300"}`, 1)
	f(`mailproxy_session_duration_seconds_sum{`+l+`}`, 90)
	f(`mailproxy_session_duration_seconds_count{`+l+`}`, 1)

	metricPromtool(t, text)
}

func TestListenerStatsUnregister(t *testing.T) {
	const series = `mailproxy_connections_accepted_total{protocol="pop3",listener="127.0.0.1:10110"}`
	a := NewListenerStats("pop3", "127.0.0.1:10110", 1)
	a.Accepted()
	if v := metricSamples(t, metricScrape(t))[series]; v != 1 {
		t.Fatalf("%s = %v, want 1", series, v)
	}

	// A second stats for the same listener replaces the first...
	b := NewListenerStats("pop3", "127.0.0.1:10110", 1)
	if v, ok := metricSamples(t, metricScrape(t))[series]; !ok || v != 0 {
		t.Fatalf("after replace %s = %v (present %v), want 0", series, v, ok)
	}
	// ...and the first one's Unregister does not remove the second.
	a.Unregister()
	a.Accepted()
	b.Accepted()
	if v := metricSamples(t, metricScrape(t))[series]; v != 1 {
		t.Fatalf("after stale Unregister %s = %v, want 1", series, v)
	}
	b.Unregister()
	b.Unregister()
	text := metricScrape(t)
	if strings.Contains(text, `listener="127.0.0.1:10110"`) {
		t.Fatalf("series left after Unregister:\n%s", text)
	}

	// A nil stats counts nothing and does not panic.
	var n *ListenerStats
	n.Accepted()
	n.Bytes(0, true, 1)
	n.Enter(PhaseRelay)
	n.AuthDone("ok", time.Second)
	n.Unregister()
}

func TestMetricGlobals(t *testing.T) {
	opened := uint64(0)
	AuthConnsOpened("127.0.0.1:19000", func() uint64 { return opened })
	defer AuthConnsOpened("127.0.0.1:19000", nil)
	opened = 5

	got := metricSamples(t, metricScrape(t))
	reloadsOK := got[`mailproxy_config_reloads_total{result="ok"}`]
	reloadsFail := got[`mailproxy_config_reloads_total{result="fail"}`]
	f := func(series string, want float64) {
		t.Helper()
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	f(`mailproxy_auth_http_connections_opened_total{endpoint="127.0.0.1:19000"}`, 5)

	ConfigReload(false)
	got = metricSamples(t, metricScrape(t))
	f(`mailproxy_config_reloads_total{result="fail"}`, reloadsFail+1)
	f(`mailproxy_config_last_reload_successful`, 0)
	before := float64(time.Now().Unix())
	ConfigReload(true)
	got = metricSamples(t, metricScrape(t))
	f(`mailproxy_config_reloads_total{result="ok"}`, reloadsOK+1)
	f(`mailproxy_config_last_reload_successful`, 1)
	if ts := got[`mailproxy_config_last_reload_success_timestamp_seconds`]; ts < before {
		t.Errorf("last reload timestamp %v before %v", ts, before)
	}

	SetBuildInfo("test-1")
	SetBuildInfo(`test-"2"`)
	text := metricScrape(t)
	if strings.Contains(text, `version="test-1"`) {
		t.Errorf("old build_info left:\n%s", text)
	}
	if !strings.Contains(text, `mailproxy_build_info{version="test-\"2\"",goversion="go`) {
		t.Errorf("build_info missing or unescaped:\n%s", text)
	}
	metricPromtool(t, text)

	AuthConnsOpened("127.0.0.1:19000", nil)
	if strings.Contains(metricScrape(t), `endpoint="127.0.0.1:19000"`) {
		t.Errorf("auth connections series left after removal")
	}
}

// Every mailproxy_* family has real help text, not the generic fallback.
func TestMetricHelpCoversFamilies(t *testing.T) {
	s := NewListenerStats("smtp", "127.0.0.1:10025", 1)
	defer s.Unregister()
	AuthConnsOpened("127.0.0.1:19001", func() uint64 { return 0 })
	defer AuthConnsOpened("127.0.0.1:19001", nil)
	AuthEndpoint("127.0.0.1:19001", AuthEndpointFuncs{Requests: func() uint64 { return 0 }, Errors: func() uint64 { return 0 }, Up: func() bool { return true }})
	defer AuthEndpoint("127.0.0.1:19001", AuthEndpointFuncs{})
	SetBuildInfo("test")
	families := 0
	for _, line := range strings.Split(metricScrape(t), "\n") {
		name, ok := strings.CutPrefix(line, "# TYPE mailproxy_")
		if !ok {
			continue
		}
		families++
		name, _, _ = strings.Cut("mailproxy_"+name, " ")
		if _, ok := metricHelp[name]; !ok {
			t.Errorf("family %s has no entry in metricHelp", name)
		}
	}
	if families != metricCountPrefix("mailproxy_") {
		t.Errorf("%d mailproxy families exposed, metricHelp lists a different number", families)
	}
}

func metricCountPrefix(p string) int {
	n := 0
	for k := range metricHelp {
		if strings.HasPrefix(k, p) {
			n++
		}
	}
	return n
}

func TestMetricLint(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(metricLint(nil, []byte(in))); got != want {
			t.Errorf("metricLint(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	f("", "")
	f("# HELP go_goroutines\n", "# HELP go_goroutines Number of goroutines that currently exist.\n")
	f("# HELP go_goroutines kept as is\n", "# HELP go_goroutines kept as is\n")
	f("# HELP go_new_thing\n", "# HELP go_new_thing Go runtime metric go_new_thing (VictoriaMetrics/metrics runtime collector).\n")
	f("# HELP process_x\n", "# HELP process_x Process metric process_x (VictoriaMetrics/metrics process collector).\n")
	f("# TYPE process_io_read_bytes_total gauge\n", "# TYPE process_io_read_bytes_total counter\n")
	f("# TYPE go_goroutines gauge\n", "# TYPE go_goroutines gauge\n")
	f("# HELP go_cgo_calls_count\n# TYPE go_cgo_calls_count counter\ngo_cgo_calls_count 3\n",
		"# HELP go_cgo_calls_total cgo calls made by the process.\n# TYPE go_cgo_calls_total counter\ngo_cgo_calls_total 3\n")
	f("go_cpu_count 2\n", "go_cpu_cores 2\n")
	f("go_cpu_count_other 2\n", "go_cpu_count_other 2\n")
	f(`a{b="c d"} 1`, "a{b=\"c d\"} 1\n")
	f("no_newline 1", "no_newline 1\n")
}

func TestMetricEscape(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := metricEscape(in); got != want {
			t.Errorf("metricEscape(%q) = %q, want %q", in, got, want)
		}
	}
	f("127.0.0.1:143", "127.0.0.1:143")
	f("[::1]:143", "[::1]:143")
	f(`a"b`, `a\"b`)
	f(`a\b`, `a\\b`)
	f("a\nb", `a\nb`)
}

func TestPhaseString(t *testing.T) {
	f := func(p Phase, want string) {
		t.Helper()
		if got := p.String(); got != want {
			t.Errorf("Phase(%d).String() = %q, want %q", p, got, want)
		}
	}
	f(PhasePreAuth, "pre_auth")
	f(PhaseAuth, "auth")
	f(PhaseBackendLogin, "backend_login")
	f(PhaseRelay, "relay")
	f(NumPhases, "unknown")
}

// Per-server auth_http series follow the registered functions and go
// away when the endpoint is removed.
func TestAuthEndpointSeries(t *testing.T) {
	var req, errs uint64 = 7, 2
	up := false
	AuthEndpoint("127.0.0.1:19002", AuthEndpointFuncs{Requests: func() uint64 { return req }, Errors: func() uint64 { return errs }, Up: func() bool { return up }})
	AuthCache(true)
	got := metricSamples(t, metricScrape(t))
	f := func(series string, want float64) {
		t.Helper()
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	f(`mailproxy_auth_http_endpoint_requests_total{endpoint="127.0.0.1:19002"}`, 7)
	f(`mailproxy_auth_http_endpoint_errors_total{endpoint="127.0.0.1:19002"}`, 2)
	f(`mailproxy_auth_http_endpoint_up{endpoint="127.0.0.1:19002"}`, 0)
	if got[`mailproxy_auth_http_cache_total{result="hit"}`] < 1 {
		t.Errorf("cache hit not counted")
	}
	up = true
	got = metricSamples(t, metricScrape(t))
	f(`mailproxy_auth_http_endpoint_up{endpoint="127.0.0.1:19002"}`, 1)
	AuthEndpoint("127.0.0.1:19002", AuthEndpointFuncs{})
	got = metricSamples(t, metricScrape(t))
	if _, ok := got[`mailproxy_auth_http_endpoint_up{endpoint="127.0.0.1:19002"}`]; ok {
		t.Errorf("series left after removal")
	}
}

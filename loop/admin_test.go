package loop

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func adminStart(t *testing.T, ready func() bool) (*Admin, string) {
	t.Helper()
	a, err := StartAdmin("127.0.0.1:0", ready)
	if err != nil {
		t.Fatalf("StartAdmin: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a, "http://" + a.Addr().String()
}

func adminGet(t *testing.T, method, url string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func TestAdminEndpoints(t *testing.T) {
	var ready atomic.Bool
	_, base := adminStart(t, ready.Load)
	f := func(method, path string, wantCode int, wantBody string) {
		t.Helper()
		code, body, _ := adminGet(t, method, base+path)
		if code != wantCode || body != wantBody {
			t.Errorf("%s %s = %d %q, want %d %q", method, path, code, body, wantCode, wantBody)
		}
	}
	f("GET", "/readyz", 503, "not ready")
	f("GET", "/livez", 200, "ok")
	ready.Store(true)
	f("GET", "/readyz", 200, "ready")
	ready.Store(false) // draining
	f("GET", "/readyz", 503, "not ready")
	f("GET", "/", 404, "not found")
	f("GET", "/metricsx", 404, "not found")
	f("POST", "/metrics", 405, "method not allowed")
	f("HEAD", "/livez", 200, "")
}

func TestAdminNilReady(t *testing.T) {
	_, base := adminStart(t, nil)
	if code, body, _ := adminGet(t, "GET", base+"/readyz"); code != 200 || body != "ready" {
		t.Fatalf("/readyz with nil ready = %d %q", code, body)
	}
}

// A scrape over HTTP after traffic: exact counters and a clean promtool run.
func TestAdminMetricsScrape(t *testing.T) {
	s := NewListenerStats("imap", "127.0.0.1:20143", 2)
	defer s.Unregister()
	// A second listener: each family must still be one contiguous block.
	p := NewListenerStats("pop3", "[::1]:20110", 1)
	defer p.Unregister()
	_, base := adminStart(t, nil)
	metricDriveTraffic(s)
	p.Accepted()
	p.Enter(PhasePreAuth)
	p.Rejected("draining")

	code, body, hdr := adminGet(t, "GET", base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d\n%s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	got := metricSamples(t, body)
	const l = `protocol="imap",listener="127.0.0.1:20143"`
	f := func(series string, want float64) {
		t.Helper()
		if v, ok := got[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	f(`mailproxy_connections_accepted_total{`+l+`}`, 3)
	f(`mailproxy_auth_http_requests_total{`+l+`,result="ok"}`, 1)
	f(`mailproxy_auth_http_request_duration_seconds_count{`+l+`}`, 2)
	f(`mailproxy_relay_bytes_total{`+l+`,direction="to_backend"}`, 150)
	f(`mailproxy_relay_bytes_total{`+l+`,direction="to_client"}`, 7001)
	f(`mailproxy_connections_current{`+l+`,phase="relay"}`, 1)
	const lp = `protocol="pop3",listener="[::1]:20110"`
	f(`mailproxy_connections_accepted_total{`+lp+`}`, 1)
	f(`mailproxy_connections_current{`+lp+`,phase="pre_auth"}`, 1)
	f(`mailproxy_connections_rejected_total{`+lp+`,reason="draining"}`, 1)
	f(`mailproxy_relay_bytes_total{`+lp+`,direction="to_client"}`, 0)
	for _, name := range []string{"go_goroutines", "process_open_fds", "process_max_fds", "process_resident_memory_bytes", "go_cpu_cores"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing from the scrape", name)
		}
	}
	metricPromtool(t, body)
}

func TestAdminClose(t *testing.T) {
	a, err := StartAdmin("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := a.Addr().String()
	// Leave a keepalive connection open: Close must still return.
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/livez")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Fatalf("admin still accepting on %s after Close", addr)
	}
}

func TestAdminListenError(t *testing.T) {
	a, _ := adminStart(t, nil)
	if b, err := StartAdmin(a.Addr().String(), nil); err == nil {
		b.Close()
		t.Fatalf("second StartAdmin on %s succeeded", a.Addr())
	}
}

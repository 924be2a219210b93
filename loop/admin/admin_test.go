package admin

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailproxy/loop/stats"
)

func adminStart(t *testing.T, ready func() bool) (*Admin, string) {
	t.Helper()
	a, err := Start("127.0.0.1:0", ready)
	if err != nil {
		t.Fatalf("Start: %v", err)
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

// /metrics serves the stats exposition (loop/stats tests its content and
// runs promtool on it): a listener's counters show up over HTTP as counted.
func TestAdminMetricsScrape(t *testing.T) {
	s := stats.NewListenerStats("imap", "127.0.0.1:20143", 1)
	defer s.Unregister()
	_, base := adminStart(t, nil)
	s.Accepted()
	s.Accepted()
	s.Rejected("draining")

	code, body, hdr := adminGet(t, "GET", base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d\n%s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	const l = `protocol="imap",listener="127.0.0.1:20143"`
	for _, want := range []string{
		"\nmailproxy_connections_accepted_total{" + l + "} 2\n",
		"\nmailproxy_connections_rejected_total{" + l + `,reason="draining"} 1` + "\n",
		"\nprocess_open_fds ",
		"\n# TYPE mailproxy_connections_accepted_total counter\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestAdminClose(t *testing.T) {
	a, err := Start("127.0.0.1:0", nil)
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
	if b, err := Start(a.Addr().String(), nil); err == nil {
		b.Close()
		t.Fatalf("second Start on %s succeeded", a.Addr())
	}
}

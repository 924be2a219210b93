package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Grafana dashboard and the alert rules against a real Prometheus
// (issue 16 D3, D4): Debian's prometheus scrapes a running mailproxy's
// admin listener every second and loads scripts/prometheus's rules; after a
// few logins every panel query of scripts/grafana/mailproxy.json must
// return data, and every alert expression must evaluate without error
// (and find nothing to alert on: the rig is healthy).

const dashboardFile = "../scripts/grafana/mailproxy.json"

// promWait bounds the waits on Prometheus: start, first scrapes, rule runs.
const promWait = 60 * time.Second

func TestOpsPrometheusDashboardAndAlerts(t *testing.T) {
	t.Parallel()
	bin := needTool(t, "prometheus")
	r := newOpsRig(t, opsOpts{})

	dir := t.TempDir()
	rules, err := filepath.Abs(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: mailproxy
    static_configs:
      - targets: ["%s"]
`, rules, r.admin)
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	web := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	prom := startProc(t, "prometheus", "", bin, "--config.file="+confPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
	waitFor(t, promWait, func() bool {
		prom.mustBeAlive(t)
		resp, err := opsHTTP.Get("http://" + web + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, func() string { return "prometheus not ready\n" + prom.logs() })
	api := &promAPI{t: t, base: "http://" + web}

	// Scraped once before the load, so that rate() sees the counters move.
	waitFor(t, promWait, func() bool {
		prom.mustBeAlive(t)
		return len(api.query(`up{job="mailproxy"} == 1`)) == 1
	}, func() string { return "prometheus has not scraped mailproxy\n" + prom.logs() })

	// A little load: logins that work, and one the auth server refuses.
	load := opsStartLoad(r.port, 2, 10, 30*time.Second)
	load.waitMore(t, 20)
	load.end(t)
	if err := opsLogin(r.port, "bad", "pass"); err == nil {
		t.Fatal(`login "bad" worked; the auth fake should refuse it`)
	}
	// Until Prometheus has seen the logins in enough scrapes for rate().
	waitFor(t, promWait, func() bool {
		prom.mustBeAlive(t)
		res := api.query(`sum(rate(mailproxy_auth_http_requests_total{result="ok"}[1m])) > 0`)
		return len(res) == 1
	}, func() string { return "prometheus has no login rate from mailproxy\n" + prom.logs() })

	// Every panel query, as Grafana would send it with "All" instances.
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr, RefID string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	titles := map[string]bool{}
	n := 0
	for _, p := range dash.Panels {
		titles[p.Title] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			q := strings.NewReplacer(`$instance`, `.+`, `$__rate_interval`, `1m`).Replace(tg.Expr)
			res := api.query(q)
			if len(res) == 0 {
				t.Errorf("panel %q query %s: no data", p.Title, tg.RefID)
			} else {
				n++
			}
			if p.Title == "Logins/s by result" {
				if !promHasPositive(res, "result", "ok") || !promHasPositive(res, "result", "fail") {
					t.Errorf("panel %q: no ok and fail logins in %v", p.Title, res)
				}
			}
			if p.Title == "auth_http latency" && (len(res) != 1 || res[0].Value[1] == "NaN") {
				t.Errorf("panel %q query %s: want one number, got %v", p.Title, tg.RefID, res)
			}
		}
	}
	for _, want := range []string{"Connections by phase", "Logins/s by result", "auth_http latency",
		"Backend connect errors/s", "Relay bytes/s", "TLS handshakes/s", "Refusals/s by reason",
		"Panics", "Process memory", "Descriptors"} {
		if !titles[want] {
			t.Errorf("dashboard has no panel %q", want)
		}
	}
	t.Logf("%d panel queries returned data", n)

	// Every alert rule, as Prometheus loaded and ran it.
	var rulesResp struct {
		Groups []struct {
			Rules []struct {
				Name, Query, Health, LastError, Type string
			}
		}
	}
	waitFor(t, promWait, func() bool {
		api.get("/api/v1/rules", &rulesResp)
		if len(rulesResp.Groups) == 0 {
			return false
		}
		for _, g := range rulesResp.Groups {
			for _, rl := range g.Rules {
				if rl.Health != "ok" {
					return false
				}
			}
		}
		return true
	}, func() string { return fmt.Sprintf("prometheus rules not all healthy: %+v", rulesResp) })
	alerts := 0
	for _, g := range rulesResp.Groups {
		for _, rl := range g.Rules {
			alerts++
			if res := api.query(rl.Query); len(res) != 0 {
				t.Errorf("alert %s matches on a healthy mailproxy: %v", rl.Name, res)
			}
		}
	}
	if text, _ := os.ReadFile(alertRules); alerts != strings.Count(string(text), "- alert: ") {
		t.Errorf("prometheus loaded %d rules, the file has %d", alerts, strings.Count(string(text), "- alert: "))
	}
}

// promAPI queries Prometheus's HTTP API and fails the test on any error.
type promAPI struct {
	t    testing.TB
	base string
}

type promSample struct {
	Metric map[string]string
	Value  [2]any // [time, "value"]
}

func (p *promAPI) get(path string, into any) {
	p.t.Helper()
	resp, err := opsHTTP.Get(p.base + path)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	var env struct {
		Status, Error, ErrorType string
		Data                     json.RawMessage
		Warnings                 []string
	}
	if err := json.Unmarshal(body, &env); err != nil || resp.StatusCode != http.StatusOK || env.Status != "success" {
		p.t.Fatalf("GET %s: HTTP %d, %s %s: %s (%v)", path, resp.StatusCode, env.ErrorType, env.Error, body, err)
	}
	if len(env.Warnings) > 0 {
		p.t.Errorf("GET %s: warnings %v", path, env.Warnings)
	}
	if err := json.Unmarshal(env.Data, into); err != nil {
		p.t.Fatalf("GET %s: data: %v\n%s", path, err, body)
	}
}

// query runs an instant query and returns its vector.
func (p *promAPI) query(q string) []promSample {
	p.t.Helper()
	var data struct {
		ResultType string
		Result     []promSample
	}
	p.get("/api/v1/query?query="+url.QueryEscape(q), &data)
	if data.ResultType != "vector" {
		p.t.Fatalf("query %s: result type %q, want vector", q, data.ResultType)
	}
	return data.Result
}

// promHasPositive reports whether a sample with label=value is above 0.
func promHasPositive(res []promSample, label, value string) bool {
	for _, s := range res {
		if s.Metric[label] != value {
			continue
		}
		if str, ok := s.Value[1].(string); ok {
			if v, err := strconv.ParseFloat(str, 64); err == nil && v > 0 {
				return true
			}
		}
	}
	return false
}

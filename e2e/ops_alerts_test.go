package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The alert rules shipped in scripts/prometheus (issue 16 D3): promtool
// accepts them, and its unit tests (mailproxy-rules.test.yml) make each
// alert fire on a failing instance and stay silent on a healthy one. The
// same expressions run against a real Prometheus scraping mailproxy in
// ops_prometheus_test.go.

const (
	alertRules     = "../scripts/prometheus/mailproxy-rules.yml"
	alertRuleTests = "../scripts/prometheus/mailproxy-rules.test.yml"
)

var alertNameRe = regexp.MustCompile(`(?m)^\s*- alert: (\S+)$`)

func TestOpsAlertRules(t *testing.T) {
	t.Parallel()
	out := runTool(t, "promtool", "check", "rules", alertRules)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules:\n%s", out)
	}
	// promtool test rules reads rule_files relative to the test file.
	out = runTool(t, "promtool", "test", "rules", alertRuleTests)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}

	data, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(alertRuleTests)
	if err != nil {
		t.Fatal(err)
	}
	// Each rule: a for:, a severity, a runbook; each has a unit test.
	rules := alertNameRe.Split(string(data), -1)[1:]
	names := alertNameRe.FindAllStringSubmatch(string(data), -1)
	if len(names) < 9 {
		t.Fatalf("%d alerts in %s, want the 9 the README and issue 16 list", len(names), alertRules)
	}
	for i, m := range names {
		name, body := m[1], rules[i]
		for _, key := range []string{"for:", "severity:", "runbook:", "summary:"} {
			if !strings.Contains(body, "\n        "+key) && !strings.Contains(body, "\n          "+key) {
				t.Errorf("alert %s has no %s", name, key)
			}
		}
		if strings.Count(string(tests), "alertname: "+name+"\n") < 2 {
			t.Errorf("alert %s lacks a firing and a silent case in %s", name, alertRuleTests)
		}
	}
	for _, want := range []string{"mailproxy_config_last_reload_successful", `result=~"error|timeout"`,
		`result="overload"`, "mailproxy_backend_connect_errors_total", "process_max_fds",
		`reason="limit"`, "mailproxy_panics_total", "mailproxy_log_messages_dropped_total"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("no alert on %s", want)
		}
	}
}

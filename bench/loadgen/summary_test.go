package loadgen

import (
	"bytes"
	"strings"
	"testing"
)

// The summary is what bench-vs-nginx.sh prints: medians per group and
// side, the ratio, and the verdicts where a target applies.
func TestSummarizeMediansRatiosVerdicts(t *testing.T) {
	login := func(label string, rate, perSec, cpu float64, tls bool) *Report {
		return &Report{Label: label, Mode: "login", Proto: "imap", TLS: tls, Conc: 50, Rate: rate, PerSec: perSec,
			Login: &Latency{P99: 10}, Session: &Latency{P99: 20}, Proxy: &ProxyCost{CPUusOp: cpu}}
	}
	idle := func(label string, rss float64) *Report {
		return &Report{Label: label, Mode: "idle", Proto: "imap", Conc: 100,
			Idle: &IdleFigures{Opened: 1000, RSSPerConn: rss, PSSPerConn: rss, SlabPerConn: 9000}}
	}
	reports := []*Report{
		// closed loop: medians of 3 (nginx) and 2 (mailproxy) runs
		login("nginx", 0, 1000, 200, false), login("nginx", 0, 3000, 100, false), login("nginx", 0, 2000, 150, false),
		login("mailproxy", 0, 3000, 90, false), login("mailproxy", 0, 3400, 110, false),
		// open loop at 2,000/s: both keep the schedule
		login("nginx", 2000, 2000, 300, false), login("mailproxy", 2000, 2000, 360, false),
		login("nginx", 0, 900, 600, true), login("mailproxy", 0, 1000, 600, true),
		idle("nginx", 950), idle("mailproxy", 800),
	}
	var out bytes.Buffer
	Summarize(&out, reports, "nginx", "mailproxy")
	table := out.String()
	for _, want := range []string{
		"| test | metric | nginx | mailproxy | mailproxy/nginx | target |",
		"| login imap c=50 (n=3/2) | logins/s | 2000 | 3200 | 1.60 | ≥1.5: met |",
		"|  | proxy CPU µs/login | 150 | 100 | 0.67 | ≤0.7: met |",
		"| login imap c=50 rate=2000 (n=1/1) | logins/s | 2000 | 2000 | 1.00 |  |",
		"|  | proxy CPU µs/login | 300 | 360 | 1.20 | ≤0.7: **missed** |",
		"| login imap+tls c=50 (n=1/1) | logins/s | 900 | 1000 | 1.11 | ≥1.5: **missed** |",
		"|  | RSS B/conn | 950 | 800 | 0.84 | ≤1.0: met |",
	} {
		if !strings.Contains(table, want+"\n") {
			t.Errorf("summary lacks the line\n%s\nin\n%s", want, table)
		}
	}
	// rows in a fixed order: closed loop, open loop, TLS, idle
	order := []string{"login imap c=50 (", "login imap c=50 rate=2000", "login imap+tls", "idle imap pre-auth"}
	last := -1
	for _, g := range order {
		i := strings.Index(table, "| "+g)
		if i < 0 || i < last {
			t.Fatalf("group %q out of order in\n%s", g, table)
		}
		last = i
	}
}

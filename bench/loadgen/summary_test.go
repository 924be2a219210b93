package loadgen

import (
	"bytes"
	"strings"
	"testing"
)

// summaryReports are the runs of a small bench-vs-nginx.sh: base nginx,
// candidate mailproxy, floor haproxy.
type summaryReports []*Report

func (rs *summaryReports) login(label string, conc int, rate, perSec, cpu float64) *Report {
	r := &Report{Label: label, Mode: "login", Proto: "imap", Conc: conc, Rate: rate, PerSec: perSec,
		Login: &Latency{P99: 10}, Session: &Latency{P99: 20}, Proxy: &ProxyCost{CPUusOp: cpu}}
	*rs = append(*rs, r)
	return r
}

// tls adds a TLS login run: implicit or STARTTLS, the key exchange it
// negotiated, and with resumed ≥ 0 a -resume run that resumed that many
// of its 100 handshakes.
func (rs *summaryReports) tls(label string, starttls bool, tag, kx string, resumed int, cpu float64) {
	r := rs.login(label, 50, 0, 1000, cpu)
	r.TLS, r.StartTLS, r.Tag = !starttls, starttls, tag
	r.Handshakes, r.KeyExchange = 100, map[string]uint64{kx: 100}
	if resumed >= 0 {
		r.Resume, r.Resumed = true, uint64(resumed)
	}
}

func (rs *summaryReports) idle(label string, tls, relayed bool, rss float64) {
	*rs = append(*rs, &Report{Label: label, Mode: "idle", Proto: "imap", TLS: tls, Conc: 100,
		Idle: &IdleFigures{Opened: 1000, LoggedIn: relayed, RSSPerConn: rss, PSSPerConn: rss, SlabPerConn: 9000}})
}

func summarize(rs summaryReports, floor string) string {
	var out bytes.Buffer
	Summarize(&out, rs, "nginx", "mailproxy", floor)
	return out.String()
}

func wantLines(t *testing.T, table string, lines ...string) {
	t.Helper()
	for _, want := range lines {
		if !strings.Contains(table, want+"\n") {
			t.Errorf("summary lacks the line\n%s\nin\n%s", want, table)
		}
	}
}

// The summary is what bench-vs-nginx.sh prints: medians per row and side,
// the ratio, each row's own target with met / missed, and HAProxy's floor
// from the same run as the last column.
func TestSummaryPerRowTargetsAndFloorColumn(t *testing.T) {
	var rs summaryReports
	// closed loop: medians of 3 (nginx), 2 (mailproxy) and 1 (floor) runs
	rs.login("nginx", 50, 0, 1000, 200)
	rs.login("nginx", 50, 0, 3000, 100)
	rs.login("nginx", 50, 0, 2000, 150)
	rs.login("mailproxy", 50, 0, 3000, 90)
	rs.login("mailproxy", 50, 0, 3400, 110)
	rs.login("haproxy", 50, 0, 5000, 40)
	// open loop at 2,000/s: both keep the schedule; target ≤ 1.0
	rs.login("nginx", 200, 2000, 2000, 300)
	rs.login("mailproxy", 200, 2000, 2000, 360)
	rs.login("haproxy", 200, 2000, 2000, 50)
	// full handshakes, X25519 on both sides: target ≤ 0.9; STARTTLS
	// has no HAProxy run of its own
	rs.tls("nginx", false, "kx=X25519", "X25519", -1, 600)
	rs.tls("mailproxy", false, "kx=X25519", "X25519", -1, 500)
	rs.tls("haproxy", false, "kx=X25519", "X25519", -1, 300)
	rs.tls("nginx", true, "kx=X25519", "X25519", -1, 620)
	rs.tls("mailproxy", true, "kx=X25519", "X25519", -1, 600)
	// each side's default key exchange: reported, no target
	rs.tls("nginx", false, "kx=default", "X25519", -1, 600)
	rs.tls("mailproxy", false, "kx=default", "X25519MLKEM768", -1, 700)
	// resumed: implicit TLS resumed on both sides; STARTTLS did not
	// resume on mailproxy's side
	rs.tls("nginx", false, "kx=X25519", "X25519", 99, 300)
	rs.tls("mailproxy", false, "kx=X25519", "X25519", 98, 270)
	rs.tls("haproxy", false, "kx=X25519", "X25519", 99, 100)
	rs.tls("nginx", true, "kx=X25519", "X25519", 99, 320)
	rs.tls("mailproxy", true, "kx=X25519", "X25519", 2, 600)
	rs = append(rs,
		&Report{Label: "nginx", Mode: "relay", Proto: "imap", Conc: 4, Relay: &RelayFigures{MBps: 500}},
		&Report{Label: "mailproxy", Mode: "relay", Proto: "imap", Conc: 4, Relay: &RelayFigures{MBps: 450}})
	rs.idle("nginx", false, false, 950)
	rs.idle("mailproxy", false, false, 800)
	rs.idle("haproxy", false, false, 300)
	rs.idle("nginx", true, true, 40000)
	rs.idle("mailproxy", true, true, 30000)
	table := summarize(rs, "haproxy")
	wantLines(t, table,
		"| test | metric | nginx | mailproxy | mailproxy/nginx | target | haproxy floor |",
		"| login imap c=50 (n=3/2/1) | logins/s | 2000 | 3200 | 1.60 |  | 5000 |",
		"|  | proxy CPU µs/login | 150 | 100 | 0.67 | ≤0.9: met | 40.0 |",
		// no verdict on the open loop's rate: the schedule sets it
		"| login imap c=200 rate=2000 (n=1/1/1) | logins/s | 2000 | 2000 | 1.00 |  | 2000 |",
		"|  | proxy CPU µs/login | 300 | 360 | 1.20 | ≤1.0: **missed** | 50.0 |",
		"| login imap+tls c=50 kx=X25519 (n=1/1/1) | logins/s | 1000 | 1000 | 1.00 |  | 1000 |",
		"|  | proxy CPU µs/login | 600 | 500 | 0.83 | ≤0.9: met | 300 |",
		"| login imap+starttls c=50 kx=X25519 (n=1/1/1) | logins/s | 1000 | 1000 | 1.00 |  | 1000† |",
		"|  | proxy CPU µs/login | 620 | 600 | 0.97 | ≤0.9: **missed** | 300† |",
		"|  | proxy CPU µs/login | 600 | 700 | 1.17 | none (key exchange X25519 vs X25519MLKEM768) | – |",
		"| login imap+tls c=50 resumed kx=X25519 (n=1/1/1) | logins/s | 1000 | 1000 | 1.00 |  | 1000 |",
		"|  | proxy CPU µs/login | 300 | 270 | 0.90 | ≤0.8: **missed** | 100 |",
		"|  | resumed % | 99.0 | 98.0 | 0.99 |  | 99.0 |",
		"|  | proxy CPU µs/login | 320 | 600 | 1.88 | not resumed (mailproxy 2%) | 100† |",
		"| relay imap c=4 (n=1/1/0) | MB/s | 500 | 450 | 0.90 | ≥1.0: **missed** (no regression) | – |",
		"| idle imap pre-auth (n=1/1/1) | held | 1000 | 1000 | 1.00 |  | 1000 |",
		"|  | RSS B/conn | 950 | 800 | 0.84 | ≤1.0: met (no regression) | 300 |",
		"|  | failed | 0 | 0 |  |  | 0 |\n| idle imap+tls relayed (n=1/1/0) | held | 1000 | 1000 | 1.00 |  | – |",
		"|  | RSS B/conn | 40000 | 30000 | 0.75 | ≤0.8: met | – |",
		"† haproxy cannot do IMAP STARTTLS: the floor shown on STARTTLS rows is its implicit-TLS run "+
			"(same concurrency, key exchange and resumption).",
	)
	if !strings.Contains(table, "resumed % | 99.0 | 98.0 | 0.99 |  | 99.0 |\n|  | failed") {
		t.Errorf("the resumed share is not shown on its resumption row:\n%s", table)
	}
	if n := strings.Count(table, "resumed %"); n != 2 {
		t.Errorf("%d resumed %% lines, want one per resumption row:\n%s", n, table)
	}
	// rows in a fixed order: closed loop, open loop, TLS (same key
	// exchange, then defaults), resumed, relay, idle
	order := []string{"login imap c=50 (", "login imap c=200 rate=2000", "login imap+tls c=50 kx=X25519 (",
		"login imap+starttls c=50 kx=X25519 (", "login imap+tls c=50 kx=default", "login imap+tls c=50 resumed",
		"login imap+starttls c=50 resumed", "relay imap", "idle imap pre-auth", "idle imap+tls relayed"}
	last := -1
	for _, g := range order {
		i := strings.Index(table, "| "+g)
		if i < 0 || i < last {
			t.Fatalf("row %q out of order in\n%s", g, table)
		}
		last = i
	}
}

// FLOOR=0: no floor runs, no floor column, no footnote.
func TestSummaryWithoutFloorRunsHasNoFloorColumn(t *testing.T) {
	var rs summaryReports
	rs.login("nginx", 50, 0, 2000, 150)
	rs.login("mailproxy", 50, 0, 2000, 120)
	rs.tls("nginx", true, "kx=X25519", "X25519", -1, 620)
	rs.tls("mailproxy", true, "kx=X25519", "X25519", -1, 500)
	table := summarize(rs, "haproxy")
	wantLines(t, table,
		"| test | metric | nginx | mailproxy | mailproxy/nginx | target |",
		"| login imap c=50 (n=1/1) | logins/s | 2000 | 2000 | 1.00 |  |",
		"|  | proxy CPU µs/login | 150 | 120 | 0.80 | ≤0.9: met |",
		"|  | proxy CPU µs/login | 620 | 500 | 0.81 | ≤0.9: met |",
	)
	if strings.Contains(table, "floor") || strings.Contains(table, "†") {
		t.Errorf("floor column or footnote without floor runs:\n%s", table)
	}
}

// TestSummaryNoVerdictAcrossTLSVersions: nginx 1.22 negotiated TLS 1.2
// (its default ssl_protocols) and resumed without a key exchange while
// mailproxy resumed over TLS 1.3 with one; the summary gave that row a
// verdict as if both had done the same work.
func TestSummaryNoVerdictAcrossTLSVersions(t *testing.T) {
	var rs summaryReports
	rs.tls("nginx", false, "kx=X25519", "X25519", 99, 300)
	rs.tls("mailproxy", false, "kx=X25519", "X25519", 99, 450)
	rs[0].Versions = map[string]uint64{"TLS 1.2": 100}
	rs[1].Versions = map[string]uint64{"TLS 1.3": 100}
	rs.tls("nginx", true, "kx=X25519", "X25519", 99, 300)
	rs.tls("mailproxy", true, "kx=X25519", "X25519", 99, 200)
	rs[2].Versions = map[string]uint64{"TLS 1.3": 100}
	rs[3].Versions = map[string]uint64{"TLS 1.3": 100}
	wantLines(t, summarize(rs, ""),
		"|  | proxy CPU µs/login | 300 | 450 | 1.50 | none (TLS 1.2 vs TLS 1.3) |",
		"|  | proxy CPU µs/login | 300 | 200 | 0.67 | ≤0.8: met |",
	)
}

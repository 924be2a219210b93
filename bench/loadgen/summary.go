package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ReadReports loads every *.json file in dir that holds a Report.
func ReadReports(dir string) ([]*Report, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Report
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r Report
		if json.Unmarshal(b, &r) != nil || r.Mode == "" {
			continue
		}
		out = append(out, &r)
	}
	return out, nil
}

// sumMetric is one compared figure: how to read it from a report, and the
// target ratio cand/base (0: none; want ≥ target when higher is better,
// ≤ target otherwise).
type sumMetric struct {
	name   string
	get    func(*Report) (float64, bool)
	higher bool
	target float64
}

var sumMetrics = map[string][]sumMetric{
	"login": {
		{"logins/s", func(r *Report) (float64, bool) { return r.PerSec, true }, true, 1.5},
		{"login p99 ms", func(r *Report) (float64, bool) { return r.Login.P99, r.Login != nil }, false, 0},
		{"session p99 ms", func(r *Report) (float64, bool) { return r.Session.P99, r.Session != nil }, false, 0},
		{"proxy CPU µs/login", func(r *Report) (float64, bool) { return r.Proxy.CPUusOp, r.Proxy != nil }, false, 0.7},
		{"failed", func(r *Report) (float64, bool) { return float64(r.Failed), true }, false, 0},
	},
	"relay": {
		{"MB/s", func(r *Report) (float64, bool) { return r.Relay.MBps, r.Relay != nil }, true, 1},
		{"proxy CPU s/GB", func(r *Report) (float64, bool) {
			return r.Proxy.CPUPerGB, r.Proxy != nil && r.Proxy.CPUPerGB > 0
		}, false, 0},
		{"message p99 ms", func(r *Report) (float64, bool) { return r.Session.P99, r.Session != nil }, false, 0},
		{"failed", func(r *Report) (float64, bool) { return float64(r.Failed), true }, false, 0},
	},
	"idle": {
		{"held", func(r *Report) (float64, bool) { return float64(r.Idle.Opened), r.Idle != nil }, true, 0},
		{"RSS B/conn", func(r *Report) (float64, bool) { return r.Idle.RSSPerConn, r.Idle != nil }, false, 1},
		{"PSS B/conn", func(r *Report) (float64, bool) { return r.Idle.PSSPerConn, r.Idle != nil }, false, 0},
		{"kernel slab B/conn", func(r *Report) (float64, bool) { return r.Idle.SlabPerConn, r.Idle != nil }, false, 0},
	},
}

// sumGroup is the row a report belongs to: mode, protocol with its TLS
// variant ("imap+tls", "imap+starttls"), concurrency or rate.
func sumGroup(r *Report) string {
	proto := r.transport()
	switch r.Mode {
	case "login":
		loop := ""
		if r.Rate > 0 {
			loop = fmt.Sprintf(" rate=%.0f", r.Rate)
		}
		return fmt.Sprintf("login %s c=%d%s", proto, r.Conc, loop)
	case "idle":
		if r.Idle != nil && r.Idle.LoggedIn {
			return "idle " + proto + " relayed"
		}
		return "idle " + proto + " pre-auth"
	}
	return fmt.Sprintf("%s %s c=%d", r.Mode, proto, r.Conc)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Summarize prints a Markdown table of the median of each metric per group
// for the labels base and cand, with the ratio cand/base and whether the
// issue's target is met. Runs are medians over repetitions, whose count is
// shown.
func Summarize(w io.Writer, reports []*Report, base, cand string) {
	type key struct{ group, label string }
	byKey := map[key][]*Report{}
	var groups []string
	seen := map[string]bool{}
	for _, r := range reports {
		g := sumGroup(r)
		byKey[key{g, r.Label}] = append(byKey[key{g, r.Label}], r)
		if !seen[g] {
			seen[g] = true
			groups = append(groups, g)
		}
	}
	sort.Slice(groups, func(i, j int) bool { return sumOrder(groups[i]) < sumOrder(groups[j]) })
	fmt.Fprintf(w, "| test | metric | %s | %s | %s/%s | target |\n|---|---|---:|---:|---:|---|\n", base, cand, cand, base)
	for _, g := range groups {
		mode := strings.Fields(g)[0]
		b, c := byKey[key{g, base}], byKey[key{g, cand}]
		for i, m := range sumMetrics[mode] {
			bv, bn := sumMedian(b, m)
			cv, cn := sumMedian(c, m)
			name := ""
			if i == 0 {
				name = fmt.Sprintf("%s (n=%d/%d)", g, len(b), len(c))
			}
			ratio, verdict := "", ""
			if bn > 0 && cn > 0 && bv > 0 {
				q := cv / bv
				ratio = fmt.Sprintf("%.2f", q)
				// An open-loop run's rate is the schedule's, the same for
				// both sides by construction: no verdict on it.
				if m.target > 0 && !(m.name == "logins/s" && strings.Contains(g, " rate=")) {
					ok := q >= m.target
					op := "≥"
					if !m.higher {
						ok, op = q <= m.target, "≤"
					}
					verdict = fmt.Sprintf("%s%.1f: %s", op, m.target, map[bool]string{true: "met", false: "**missed**"}[ok])
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", name, m.name, sumCell(bv, bn), sumCell(cv, cn), ratio, verdict)
		}
	}
}

func sumMedian(rs []*Report, m sumMetric) (float64, int) {
	var v []float64
	for _, r := range rs {
		if x, ok := m.get(r); ok {
			v = append(v, x)
		}
	}
	return median(v), len(v)
}

func sumCell(v float64, n int) string {
	switch {
	case n == 0:
		return "–"
	case v >= 100 || v == 0:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// sumOrder sorts login, relay, idle; then imap, pop3, smtp, their implicit
// TLS and their STARTTLS variants; then by concurrency.
func sumOrder(g string) string {
	rank := map[string]string{"login": "1", "relay": "2", "idle": "3", "imap": "1", "pop3": "2", "smtp": "3",
		"imap+tls": "4", "pop3+tls": "5", "smtp+tls": "6", "imap+starttls": "7", "pop3+starttls": "8",
		"smtp+starttls": "9"}
	f := strings.Fields(g)
	out := ""
	for i, x := range f {
		if r, ok := rank[x]; ok {
			out += r
		} else if strings.HasPrefix(x, "c=") && i == 2 {
			out += fmt.Sprintf("%06s", x[2:])
		} else {
			out += x
		}
	}
	return out
}

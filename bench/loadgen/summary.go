package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
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

// sumMetric is one compared figure and how to read it from a report (false:
// the report has no such figure).
type sumMetric struct {
	name string
	get  func(*Report) (float64, bool)
}

const (
	metricCPU     = "proxy CPU µs/login"
	metricResumed = "resumed %"
	metricMBps    = "MB/s"
	metricRSS     = "RSS B/conn"
)

// resumedShare is the share of a run's handshakes that resumed a session.
func resumedShare(r *Report) (float64, bool) {
	return 100 * float64(r.Resumed) / float64(max(r.Handshakes, 1)), r.Resume
}

var sumMetrics = map[string][]sumMetric{
	"login": {
		{"logins/s", func(r *Report) (float64, bool) { return r.PerSec, true }},
		{"login p99 ms", func(r *Report) (float64, bool) { return p99(r.Login) }},
		{"session p99 ms", func(r *Report) (float64, bool) { return p99(r.Session) }},
		{metricCPU, func(r *Report) (float64, bool) {
			if r.Proxy == nil {
				return 0, false
			}
			return r.Proxy.CPUusOp, true
		}},
		{metricResumed, resumedShare},
		{"failed", func(r *Report) (float64, bool) { return float64(r.Failed), true }},
	},
	"relay": {
		{metricMBps, func(r *Report) (float64, bool) {
			if r.Relay == nil {
				return 0, false
			}
			return r.Relay.MBps, true
		}},
		{"proxy CPU s/GB", func(r *Report) (float64, bool) {
			if r.Proxy == nil || r.Proxy.CPUPerGB <= 0 {
				return 0, false
			}
			return r.Proxy.CPUPerGB, true
		}},
		{"message p99 ms", func(r *Report) (float64, bool) { return p99(r.Session) }},
		{"failed", func(r *Report) (float64, bool) { return float64(r.Failed), true }},
	},
	"idle": {
		{"held", idleFigure(func(id *IdleFigures) float64 { return float64(id.Opened) })},
		{metricRSS, idleFigure(func(id *IdleFigures) float64 { return id.RSSPerConn })},
		{"PSS B/conn", idleFigure(func(id *IdleFigures) float64 { return id.PSSPerConn })},
		{"kernel slab B/conn", idleFigure(func(id *IdleFigures) float64 { return id.SlabPerConn })},
		{"failed", func(r *Report) (float64, bool) { return float64(r.Failed), true }},
	},
}

func p99(l *Latency) (float64, bool) {
	if l == nil {
		return 0, false
	}
	return l.P99, true
}

func idleFigure(get func(*IdleFigures) float64) func(*Report) (float64, bool) {
	return func(r *Report) (float64, bool) {
		if r.Idle == nil {
			return 0, false
		}
		return get(r.Idle), true
	}
}

// minResumed is the resumed share (percent) below which a resumption row
// measured full handshakes, not resumed ones: no verdict then.
const minResumed = 90

// Summarize prints a Markdown table of the median of each metric per row
// for the labels base and cand, the ratio cand/base and the verdict on the
// row's target (see sumRow.target), and, when some report carries the
// label floor, the floor's medians as the last column. Medians are over
// repetitions, whose count is shown as n=base/cand[/floor].
func Summarize(w io.Writer, reports []*Report, base, cand, floor string) {
	type key struct {
		row   sumRow
		label string
	}
	byKey := map[key][]*Report{}
	var rows []sumRow
	seen := map[sumRow]bool{}
	withFloor := false
	for _, r := range reports {
		k := rowOf(r)
		if r.Label == floor && floor != "" {
			withFloor = true
		}
		byKey[key{k, r.Label}] = append(byKey[key{k, r.Label}], r)
		// A row only the floor ran (HAProxy's implicit TLS next to a
		// STARTTLS row) is no row of its own.
		if !seen[k] && r.Label != floor {
			seen[k] = true
			rows = append(rows, k)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].less(rows[j]) })
	fmt.Fprintf(w, "| test | metric | %s | %s | %s/%s | target |", base, cand, cand, base)
	if withFloor {
		fmt.Fprintf(w, " %s floor |\n|---|---|---:|---:|---:|---|---:|\n", floor)
	} else {
		fmt.Fprintf(w, "\n|---|---|---:|---:|---:|---|\n")
	}
	floorStand := false
	for _, k := range rows {
		b, c := byKey[key{k, base}], byKey[key{k, cand}]
		f, stand := byKey[key{k, floor}], ""
		if len(f) == 0 && k.starttls {
			// HAProxy cannot answer IMAP STARTTLS: its implicit-TLS
			// figure stands in, marked.
			alt := k
			alt.starttls, alt.tls = false, true
			if f = byKey[key{alt, floor}]; len(f) > 0 {
				stand, floorStand = "†", true
			}
		}
		target, hasTarget := k.target()
		first := true
		for _, m := range sumMetrics[k.mode] {
			bv, bn := sumMedian(b, m)
			cv, cn := sumMedian(c, m)
			fv, fn := sumMedian(f, m)
			if bn == 0 && cn == 0 && fn == 0 {
				continue
			}
			name := ""
			if first {
				first = false
				name = fmt.Sprintf("%s (n=%d/%d)", k.name(), len(b), len(c))
				if withFloor {
					name = fmt.Sprintf("%s (n=%d/%d/%d)", k.name(), len(b), len(c), len(f))
				}
			}
			ratio, verdict := "", ""
			if bn > 0 && cn > 0 && bv > 0 {
				q := cv / bv
				ratio = fmt.Sprintf("%.2f", q)
				if hasTarget && m.name == target.metric {
					verdict = target.verdict(q, k, b, c, base, cand)
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |", name, m.name, sumCell(bv, bn), sumCell(cv, cn), ratio, verdict)
			if withFloor {
				cell := sumCell(fv, fn)
				if fn > 0 {
					cell += stand
				}
				fmt.Fprintf(w, " %s |", cell)
			}
			fmt.Fprintln(w)
		}
	}
	if floorStand {
		fmt.Fprintf(w, "\n† %s cannot do IMAP STARTTLS: the floor shown on STARTTLS rows is its implicit-TLS run "+
			"(same concurrency, key exchange and resumption).\n", floor)
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

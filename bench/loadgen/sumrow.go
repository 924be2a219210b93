package loadgen

import (
	"fmt"
	"sort"
	"strings"
)

// sumRow is the summary row a report belongs to: what was measured, not
// who was measured (the label picks the column).
type sumRow struct {
	mode     string // login, relay, idle
	proto    string // imap, pop3, smtp
	tls      bool   // implicit TLS
	starttls bool
	resume   bool    // one client session cache: logins resume
	relayed  bool    // idle: logged in, so the proxy relays
	conc     int     // workers (login, relay)
	rate     float64 // open loop
	tag      string  // server-side variant, e.g. kx=X25519
}

func rowOf(r *Report) sumRow {
	k := sumRow{mode: r.Mode, proto: r.Proto, tls: r.TLS, starttls: r.StartTLS, resume: r.Resume, tag: r.Tag}
	switch r.Mode {
	case "idle":
		k.relayed = r.Idle != nil && r.Idle.LoggedIn
	case "login":
		k.conc, k.rate = r.Conc, r.Rate
	default:
		k.conc = r.Conc
	}
	return k
}

// name is the row's first cell, e.g. "login imap c=50 rate=2000",
// "login imap+starttls c=50 resumed kx=X25519", "idle imap+tls relayed".
func (k sumRow) name() string {
	f := []string{k.mode, (&Report{Proto: k.proto, TLS: k.tls, StartTLS: k.starttls}).transport()}
	switch k.mode {
	case "idle":
		f = append(f, map[bool]string{false: "pre-auth", true: "relayed"}[k.relayed])
	default:
		f = append(f, fmt.Sprintf("c=%d", k.conc))
	}
	if k.rate > 0 {
		f = append(f, fmt.Sprintf("rate=%.0f", k.rate))
	}
	if k.resume {
		f = append(f, "resumed")
	}
	if k.tag != "" {
		f = append(f, k.tag)
	}
	return strings.Join(f, " ")
}

// less orders rows: login, relay, idle; plaintext, then full TLS
// handshakes, then resumed ones; closed loop before open loop; then by
// protocol, variant (tag), implicit TLS before STARTTLS, pre-auth before
// relayed, concurrency and rate.
func (k sumRow) less(o sumRow) bool {
	rank := func(s string, list ...string) int {
		for i, x := range list {
			if x == s {
				return i
			}
		}
		return len(list)
	}
	class := func(r sumRow) int {
		switch {
		case r.resume:
			return 2
		case r.tls || r.starttls:
			return 1
		}
		return 0
	}
	b := func(v bool) int { return map[bool]int{false: 0, true: 1}[v] }
	a := []int{rank(k.mode, "login", "relay", "idle"), class(k), b(k.rate > 0), rank(k.proto, "imap", "pop3", "smtp")}
	z := []int{rank(o.mode, "login", "relay", "idle"), class(o), b(o.rate > 0), rank(o.proto, "imap", "pop3", "smtp")}
	for i := range a {
		if a[i] != z[i] {
			return a[i] < z[i]
		}
	}
	if k.tag != o.tag {
		return k.tag < o.tag
	}
	a = []int{b(k.starttls), b(k.relayed), k.conc}
	z = []int{b(o.starttls), b(o.relayed), o.conc}
	for i := range a {
		if a[i] != z[i] {
			return a[i] < z[i]
		}
	}
	return k.rate < o.rate
}

// sumTarget is a row's target: the ratio cand/base on one metric.
type sumTarget struct {
	metric string
	ratio  float64
	higher bool   // want ≥ ratio; otherwise ≤
	note   string // "no regression": a row that guards what is already met, not one of the targets
}

// target is the issue's target for the row ("Performance on the paths
// users take"): CPU per login ≤ 0.9× nginx in the closed loop, ≤ 1.0× in
// the open loop, ≤ 0.9× for full TLS handshakes with the same key
// exchange on both sides, ≤ 0.8× for resumed ones; idle TLS memory ≤ 1.0×
// pre-auth and ≤ 0.8× relayed. Plaintext idle memory (≤ 1.0×) and relay
// throughput (≥ 1.0×) are no-regression rows.
func (k sumRow) target() (sumTarget, bool) {
	tls := k.tls || k.starttls
	switch k.mode {
	case "relay":
		return sumTarget{metricMBps, 1, true, "no regression"}, true
	case "idle":
		switch {
		case !tls:
			return sumTarget{metricRSS, 1, false, "no regression"}, true
		case k.relayed:
			return sumTarget{metricRSS, 0.8, false, ""}, true
		}
		return sumTarget{metricRSS, 1, false, ""}, true
	case "login":
		switch {
		case k.resume:
			return sumTarget{metricCPU, 0.8, false, ""}, true
		case tls, k.rate == 0:
			return sumTarget{metricCPU, 0.9, false, ""}, true
		}
		return sumTarget{metricCPU, 1, false, ""}, true
	}
	return sumTarget{}, false
}

// verdict says whether ratio q meets t on row k, whose runs are b (base)
// and c (cand). A TLS login row where the two sides negotiated different
// protocol versions or key exchanges gets no verdict (it compares those:
// a resumed TLS 1.2 handshake exchanges no key, a TLS 1.3 one does), nor does
// a resumption row where either side resumed less than minResumed percent
// of its handshakes (it measured full handshakes).
func (t sumTarget) verdict(q float64, k sumRow, b, c []*Report, base, cand string) string {
	if k.mode == "login" && (k.tls || k.starttls) {
		if bv, cv := versionsOf(b), versionsOf(c); bv != "" && cv != "" && bv != cv {
			return fmt.Sprintf("none (%s vs %s)", bv, cv)
		}
		if bk, ck := kxOf(b), kxOf(c); bk != "" && ck != "" && bk != ck {
			return fmt.Sprintf("none (key exchange %s vs %s)", bk, ck)
		}
	}
	if k.resume {
		var low []string
		for _, side := range []struct {
			label string
			rs    []*Report
		}{{base, b}, {cand, c}} {
			if v, n := sumMedian(side.rs, sumMetric{metricResumed, resumedShare}); n > 0 && v < minResumed {
				low = append(low, fmt.Sprintf("%s %.0f%%", side.label, v))
			}
		}
		if len(low) > 0 {
			return "not resumed (" + strings.Join(low, ", ") + ")"
		}
	}
	ok, op := q <= t.ratio, "≤"
	if t.higher {
		ok, op = q >= t.ratio, "≥"
	}
	v := fmt.Sprintf("%s%.1f: %s", op, t.ratio, map[bool]string{true: "met", false: "**missed**"}[ok])
	if t.note != "" {
		v += " (" + t.note + ")"
	}
	return v
}

// kxOf names the key exchanges a side's runs negotiated ("" when the
// reports do not say), e.g. "X25519" or "X25519+X25519MLKEM768".
func kxOf(rs []*Report) string {
	return namesOf(rs, func(r *Report) map[string]uint64 { return r.KeyExchange })
}

// versionsOf names the TLS versions a side's runs negotiated, e.g. "TLS 1.3".
func versionsOf(rs []*Report) string {
	return namesOf(rs, func(r *Report) map[string]uint64 { return r.Versions })
}

// namesOf joins the names of what a side's runs counted (get's map keys).
func namesOf(rs []*Report, get func(*Report) map[string]uint64) string {
	set := map[string]bool{}
	for _, r := range rs {
		for name := range get(r) {
			set[name] = true
		}
	}
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, "+")
}

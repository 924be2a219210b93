package loadgen

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Report is the outcome of one run. Fields that a mode does not measure are
// zero and left out of the JSON.
type Report struct {
	Label    string `json:"label,omitempty"` // what was measured, e.g. "nginx"
	Mode     string `json:"mode"`
	Proto    string `json:"proto"`
	TLS      bool   `json:"tls,omitempty"`      // implicit TLS
	StartTLS bool   `json:"starttls,omitempty"` // TLS after the greeting
	Resume   bool   `json:"resume,omitempty"`   // one client session cache for the run
	// TLS handshakes made and how many resumed a session (-resume).
	Handshakes uint64 `json:"tls_handshakes,omitempty"`
	Resumed    uint64 `json:"tls_resumed,omitempty"`
	// Handshakes by negotiated key exchange ("X25519", "X25519MLKEM768").
	KeyExchange map[string]uint64 `json:"tls_key_exchange,omitempty"`
	// Handshakes by negotiated protocol version ("TLS 1.3").
	Versions map[string]uint64 `json:"tls_versions,omitempty"`
	// Tag names the server-side variant the run measured (e.g. "kx=X25519"
	// for listeners set to one key exchange); summary rows keep tags apart.
	Tag       string            `json:"tag,omitempty"`
	Target    string            `json:"target"`
	Conc      int               `json:"concurrency"`
	Rate      float64           `json:"target_rate,omitempty"` // open loop
	Elapsed   float64           `json:"elapsed_s"`
	OK        uint64            `json:"ok"`
	Failed    uint64            `json:"failed"`
	Errors    map[string]uint64 `json:"errors,omitempty"`
	PerSec    float64           `json:"ok_per_s"`
	Login     *Latency          `json:"login_latency,omitempty"`   // connect → login reply
	Session   *Latency          `json:"session_latency,omitempty"` // connect → logout reply; relay: one message
	Proxy     *ProxyCost        `json:"proxy,omitempty"`
	Machine   float64           `json:"machine_busy_pct"`
	GenCPUus  float64           `json:"generator_cpu_us_per_op"`
	MockCPUus float64           `json:"mocks_cpu_us_per_op,omitempty"`
	Idle      *IdleFigures      `json:"idle,omitempty"`
	Relay     *RelayFigures     `json:"relay,omitempty"`
}

// ProxyCost is the CPU the process tree under test spent during the run.
type ProxyCost struct {
	PIDs     []int   `json:"pids"`
	Procs    int     `json:"procs"`
	CPUSec   float64 `json:"cpu_s"`
	CPUPct   float64 `json:"cpu_pct"` // of one core
	CPUusOp  float64 `json:"cpu_us_per_op"`
	CPUPerGB float64 `json:"cpu_s_per_gb,omitempty"` // relay
}

// IdleFigures is memory per held connection.
type IdleFigures struct {
	Opened       int     `json:"opened"`
	LoggedIn     bool    `json:"logged_in"`
	OpenSec      float64 `json:"open_s"`
	RSSBefore    int64   `json:"rss_before"`
	RSSAfter     int64   `json:"rss_after"`
	PSSBefore    int64   `json:"pss_before"`
	PSSAfter     int64   `json:"pss_after"`
	RSSPerConn   float64 `json:"rss_per_conn"`
	PSSPerConn   float64 `json:"pss_per_conn"`
	SlabPerConn  float64 `json:"kernel_slab_per_conn"` // all sockets of the run, both ends
	GenRSSPerCon float64 `json:"generator_rss_per_conn"`
}

// RelayFigures is throughput through the relay.
type RelayFigures struct {
	Bytes    int64   `json:"bytes"`
	MBps     float64 `json:"mb_per_s"` // 10^6 bytes
	Messages uint64  `json:"messages"`
	Size     int64   `json:"message_bytes"`
}

// transport is the protocol as reports and summaries name it: "imap",
// "imap+tls" (implicit) or "imap+starttls".
func (r *Report) transport() string {
	switch {
	case r.TLS:
		return r.Proto + "+tls"
	case r.StartTLS:
		return r.Proto + "+starttls"
	}
	return r.Proto
}

// countNames lists what handshakes negotiated (key exchanges, versions):
// "X25519", or "X25519=10 X25519MLKEM768=3" when the handshakes differed.
func countNames(m map[string]uint64) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) == 1 {
		return names[0]
	}
	for i, k := range names {
		names[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(names, " ")
}

func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 1:
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fµs", v*1000)
}

func mib(b float64) string {
	switch {
	case b >= 1<<20 || b <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10 || b <= -(1<<10):
		return fmt.Sprintf("%.2f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}

// WriteTable prints the report for humans.
func (r *Report) WriteTable(w io.Writer) {
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop at %.0f/s (latency from intended start)", r.Rate)
	}
	fmt.Fprintf(w, "%s %s → %s  concurrency %d, %s, %.1fs\n", r.Mode, r.transport(), r.Target, r.Conc, loop,
		r.Elapsed)
	unit := map[string]string{"login": "logins", "relay": "messages", "idle": "connections"}[r.Mode]
	fmt.Fprintf(w, "  %-10s %d ok, %d failed, %.1f %s/s\n", unit+":", r.OK, r.Failed, r.PerSec, unit)
	if r.Handshakes > 0 {
		fmt.Fprintf(w, "  %-10s %d handshakes, %d resumed, %s, key exchange %s\n", "tls:", r.Handshakes, r.Resumed,
			countNames(r.Versions), countNames(r.KeyExchange))
	}
	lat := func(name string, l *Latency) {
		if l != nil {
			fmt.Fprintf(w, "  %-10s p50 %s  p99 %s  p99.9 %s  max %s  mean %s\n", name, ms(l.P50), ms(l.P99),
				ms(l.P999), ms(l.Max), ms(l.Mean))
		}
	}
	lat("login:", r.Login)
	if r.Mode == "relay" {
		lat("message:", r.Session)
	} else {
		lat("session:", r.Session)
	}
	if len(r.Errors) > 0 {
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", k, r.Errors[k])
		}
		fmt.Fprintf(w, "  %-10s %s\n", "errors:", strings.Join(parts, " "))
	}
	if rl := r.Relay; rl != nil {
		fmt.Fprintf(w, "  %-10s %.1f MB/s (%s in %d messages of %s)\n", "relay:", rl.MBps, mib(float64(rl.Bytes)),
			rl.Messages, mib(float64(rl.Size)))
	}
	if p := r.Proxy; p != nil {
		fmt.Fprintf(w, "  %-10s %.1f µs CPU per %s, %.0f%% of a core, %d processes (pids %v)", "proxy:", p.CPUusOp,
			strings.TrimSuffix(unit, "s"), p.CPUPct, p.Procs, p.PIDs)
		if p.CPUPerGB > 0 {
			fmt.Fprintf(w, ", %.2f s CPU per GB", p.CPUPerGB)
		}
		fmt.Fprintln(w)
	}
	if id := r.Idle; id != nil {
		fmt.Fprintf(w, "  %-10s %d held (logged in: %v), opened in %.1fs\n", "idle:", id.Opened, id.LoggedIn, id.OpenSec)
		fmt.Fprintf(w, "  %-10s RSS %s → %s = %s per conn; PSS %s → %s = %s per conn\n", "memory:",
			mib(float64(id.RSSBefore)), mib(float64(id.RSSAfter)), mib(id.RSSPerConn),
			mib(float64(id.PSSBefore)), mib(float64(id.PSSAfter)), mib(id.PSSPerConn))
		fmt.Fprintf(w, "  %-10s slab %s per conn (all sockets of the run: client, proxy and backend ends)\n",
			"kernel:", mib(id.SlabPerConn))
	}
	fmt.Fprintf(w, "  %-10s machine %.0f%% busy, generator %.1f µs CPU per op", "host:", r.Machine, r.GenCPUus)
	if r.MockCPUus > 0 {
		fmt.Fprintf(w, ", mocks %.1f µs CPU per op", r.MockCPUus)
	}
	fmt.Fprintln(w)
}

// meter takes the CPU readings at the start and end of a run.
type meter struct {
	pids    []int
	mocks   []int
	mockCPU time.Duration
	start   time.Time
	tree    TreeSample
	machine MachineCPU
	self    time.Duration
}

func startMeter(pids, mocks []int) *meter {
	return &meter{pids: pids, mocks: mocks, mockCPU: SampleTree(mocks, false).CPU, start: time.Now(),
		tree: SampleTree(pids, false), machine: SampleMachine(), self: selfCPU()}
}

// finish fills the timing and CPU fields of r; ops is the count the per-op
// figures divide by.
func (m *meter) finish(r *Report, ops uint64) {
	el := time.Since(m.start)
	r.Elapsed = el.Seconds()
	r.Machine = m.machine.BusyPct(SampleMachine())
	div := float64(max(ops, 1))
	r.GenCPUus = float64((selfCPU() - m.self).Microseconds()) / div
	if r.Elapsed > 0 {
		r.PerSec = float64(r.OK) / r.Elapsed
	}
	if len(m.mocks) > 0 {
		r.MockCPUus = float64((SampleTree(m.mocks, false).CPU - m.mockCPU).Microseconds()) / div
	}
	if len(m.pids) > 0 {
		t := SampleTree(m.pids, false)
		cpu := t.CPU - m.tree.CPU
		r.Proxy = &ProxyCost{PIDs: m.pids, Procs: t.Procs, CPUSec: cpu.Seconds(),
			CPUPct: 100 * cpu.Seconds() / el.Seconds(), CPUusOp: float64(cpu.Microseconds()) / div}
	}
}

package stats

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Bounded label values. Anything a caller passes outside these sets is
// counted as "other", so a typo can never grow the number of series.
var (
	metricRejectReasons = []string{"limit", "draining", "error", "other"}
	metricAuthResults   = []string{"ok", "fail", "wait", "error", "timeout", "overload", "other"}
	metricConnectErrs   = []string{"refused", "timeout", "unreachable", "other"}
	metricTLSResults    = []string{"ok", "fail", "timeout", "other"}
)

// Histogram upper bounds, in seconds.
var (
	metricAuthBuckets    = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	metricConnectBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	metricSessionBuckets = []float64{1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400}
)

// metricSet holds every mailproxy_* metric. One set (rather than one per
// listener) keeps each metric family contiguous with a single # TYPE line in
// the exposition, which Prometheus requires.
var metricSet = func() *vm.Set {
	vm.ExposeMetadata(true)
	s := vm.NewSet()
	vm.RegisterSet(s)
	return s
}()

// metricMu guards metricListeners and the registration of per-listener names
// in metricSet.
var (
	metricMu        sync.Mutex
	metricListeners = map[string]*ListenerStats{}
)

// metricShard holds one event loop's hot counters. The stride of 128 bytes
// keeps two loops' counters off each other's cache lines (and off the
// adjacent-line prefetch pair) whatever the slice's alignment.
type metricShard struct {
	toBackend atomic.Uint64
	toClient  atomic.Uint64
	invalid   atomic.Uint64
	_         [128 - 3*8]byte
}

// metricGauge is an up/down counter on its own cache line.
type metricGauge struct {
	n atomic.Int64
	_ [64 - 8]byte
}

// ListenerStats holds every metric of one listener (labels protocol="imap",
// listener="127.0.0.1:143").
//
// All methods are safe to call from any goroutine and on a nil receiver
// (which counts nothing). Bytes and InvalidCommand take the event-loop index
// and update that loop's shard; the shards are summed at scrape time, so the
// relay path never writes a cache line another loop writes. The other methods
// are per-connection or per-session events and use shared atomics (the
// histograms take a short mutex).
type ListenerStats struct {
	key    string
	labels string   // `protocol="imap",listener="127.0.0.1:143"`
	names  []string // every name this listener registered in metricSet

	current [NumPhases]metricGauge
	shards  []metricShard

	accepted    *vm.Counter
	rejected    []*vm.Counter // by metricRejectReasons
	auth        []*vm.Counter // by metricAuthResults
	authDur     *vm.PrometheusHistogram
	connectDur  *vm.PrometheusHistogram
	connectErr  []*vm.Counter // by metricConnectErrs
	established *vm.Counter
	sessionDur  *vm.PrometheusHistogram
	maxErrors   *vm.Counter
	timeouts    [NumPhases]*vm.Counter
	tls         []*vm.Counter // by metricTLSResults

	// Written at scrape from the shards.
	bytesToBackend *vm.Counter
	bytesToClient  *vm.Counter
	invalid        *vm.Counter
}

// NewListenerStats registers the metrics of one listener. numLoops is the
// number of event loops (the range of the loop argument of Bytes and
// InvalidCommand).
//
// A listener kept across a reload should keep its ListenerStats. Creating a
// second one for the same protocol and listener replaces the first in the
// exposition (its counters restart from zero) and makes the first one's
// Unregister a no-op.
func NewListenerStats(protocol, listener string, numLoops int) *ListenerStats {
	if numLoops < 1 {
		numLoops = 1
	}
	s := &ListenerStats{
		key:    protocol + "\x00" + listener,
		labels: `protocol="` + metricEscape(protocol) + `",listener="` + metricEscape(listener) + `"`,
		shards: make([]metricShard, numLoops),
	}

	metricMu.Lock()
	defer metricMu.Unlock()
	if old := metricListeners[s.key]; old != nil {
		old.unregisterLocked()
	}
	metricListeners[s.key] = s

	s.accepted = s.counter("mailproxy_connections_accepted_total", "")
	s.rejected = s.counters("mailproxy_connections_rejected_total", "reason", metricRejectReasons)
	for p := Phase(0); p < NumPhases; p++ {
		g := &s.current[p].n
		s.register(`mailproxy_connections_current{`+s.labels+`,phase="`+p.String()+`"}`, func(name string) {
			metricSet.NewGauge(name, func() float64 { return float64(g.Load()) })
		})
		s.timeouts[p] = s.counter("mailproxy_timeouts_total", `phase="`+p.String()+`"`)
	}
	s.auth = s.counters("mailproxy_auth_http_requests_total", "result", metricAuthResults)
	s.authDur = s.histogram("mailproxy_auth_http_request_duration_seconds", metricAuthBuckets)
	s.connectDur = s.histogram("mailproxy_backend_connect_duration_seconds", metricConnectBuckets)
	s.connectErr = s.counters("mailproxy_backend_connect_errors_total", "type", metricConnectErrs)
	s.established = s.counter("mailproxy_sessions_established_total", "")
	s.sessionDur = s.histogram("mailproxy_session_duration_seconds", metricSessionBuckets)
	s.maxErrors = s.counter("mailproxy_connections_max_errors_closed_total", "")
	s.tls = s.counters("mailproxy_tls_handshakes_total", "result", metricTLSResults)
	s.bytesToBackend = s.counter("mailproxy_relay_bytes_total", `direction="to_backend"`)
	s.bytesToClient = s.counter("mailproxy_relay_bytes_total", `direction="to_client"`)
	s.invalid = s.counter("mailproxy_commands_invalid_total", "")
	return s
}

func (s *ListenerStats) register(name string, create func(name string)) {
	create(name)
	s.names = append(s.names, name)
}

func (s *ListenerStats) counter(family, extra string) *vm.Counter {
	name := family + "{" + s.labels
	if extra != "" {
		name += "," + extra
	}
	name += "}"
	var c *vm.Counter
	s.register(name, func(name string) { c = metricSet.NewCounter(name) })
	return c
}

func (s *ListenerStats) counters(family, label string, values []string) []*vm.Counter {
	cs := make([]*vm.Counter, len(values))
	for i, v := range values {
		cs[i] = s.counter(family, label+`="`+v+`"`)
	}
	return cs
}

func (s *ListenerStats) histogram(family string, buckets []float64) *vm.PrometheusHistogram {
	var h *vm.PrometheusHistogram
	s.register(family+"{"+s.labels+"}", func(name string) {
		h = metricSet.NewPrometheusHistogramExt(name, buckets)
	})
	return h
}

// Unregister removes the listener's metrics from the exposition (a listener
// removed on reload). The methods stay callable afterwards and count nothing
// visible.
func (s *ListenerStats) Unregister() {
	if s == nil {
		return
	}
	metricMu.Lock()
	defer metricMu.Unlock()
	if metricListeners[s.key] == s {
		s.unregisterLocked()
	}
}

func (s *ListenerStats) unregisterLocked() {
	for _, name := range s.names {
		metricSet.UnregisterMetric(name)
	}
	s.names = nil
	delete(metricListeners, s.key)
}

// metricCollect copies the loop shards into their exposed counters. The
// caller serialises scrapes, so the exposed values never go backwards.
func metricCollect() {
	metricMu.Lock()
	defer metricMu.Unlock()
	for _, s := range metricListeners {
		var toBackend, toClient, invalid uint64
		for i := range s.shards {
			sh := &s.shards[i]
			toBackend += sh.toBackend.Load()
			toClient += sh.toClient.Load()
			invalid += sh.invalid.Load()
		}
		s.bytesToBackend.Set(toBackend)
		s.bytesToClient.Set(toClient)
		s.invalid.Set(invalid)
	}
	metricCollectGlobals()
}

// metricIndex returns the position of v in values, or the last position
// ("other") when v is not there.
func metricIndex(values []string, v string) int {
	for i, x := range values {
		if x == v {
			return i
		}
	}
	return len(values) - 1
}

// metricEscape escapes a label value for the Prometheus text format.
func metricEscape(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return r.Replace(v)
}

func (s *ListenerStats) shard(loop int) *metricShard {
	if uint(loop) >= uint(len(s.shards)) {
		loop = 0 // not called from a loop: still counted, on shard 0
	}
	return &s.shards[loop]
}

// Accepted counts a connection handed to the engine.
func (s *ListenerStats) Accepted() {
	if s != nil {
		s.accepted.Inc()
	}
}

// Rejected counts a connection closed at accept: reason is "limit"
// (worker_connections reached), "draining" or "error".
func (s *ListenerStats) Rejected(reason string) {
	if s != nil {
		s.rejected[metricIndex(metricRejectReasons, reason)].Inc()
	}
}

// Enter adds one to the current-connections gauge of phase p. On every phase
// change call Enter(new) then Leave(old); at close call Leave(current).
func (s *ListenerStats) Enter(p Phase) {
	if s != nil && p < NumPhases {
		s.current[p].n.Add(1)
	}
}

// Leave takes one from the current-connections gauge of phase p.
func (s *ListenerStats) Leave(p Phase) {
	if s != nil && p < NumPhases {
		s.current[p].n.Add(-1)
	}
}

// AuthDone counts one auth_http request by result ("ok", "fail", "wait",
// "error", "timeout", "overload") and records how long it took.
func (s *ListenerStats) AuthDone(result string, d time.Duration) {
	if s == nil {
		return
	}
	s.auth[metricIndex(metricAuthResults, result)].Inc()
	s.authDur.Update(metricSeconds(d))
}

// BackendConnect records one backend dial: errKind "" is a success (its
// duration goes to the histogram); "refused", "timeout", "unreachable" or
// "other" count an error.
func (s *ListenerStats) BackendConnect(d time.Duration, errKind string) {
	if s == nil {
		return
	}
	if errKind == "" {
		s.connectDur.Update(metricSeconds(d))
		return
	}
	s.connectErr[metricIndex(metricConnectErrs, errKind)].Inc()
}

// SessionEstablished counts a session that reached relay.
func (s *ListenerStats) SessionEstablished() {
	if s != nil {
		s.established.Inc()
	}
}

// SessionClosed records the duration of a session that had reached relay.
func (s *ListenerStats) SessionClosed(d time.Duration) {
	if s != nil {
		s.sessionDur.Update(metricSeconds(d))
	}
}

// Bytes counts n relayed bytes on event loop loop, towards the backend or
// towards the client. It touches only that loop's shard.
func (s *ListenerStats) Bytes(loop int, toBackend bool, n int) {
	if s == nil || n <= 0 {
		return
	}
	sh := s.shard(loop)
	if toBackend {
		sh.toBackend.Add(uint64(n))
	} else {
		sh.toClient.Add(uint64(n))
	}
}

// InvalidCommand counts one invalid pre-auth command on event loop loop.
func (s *ListenerStats) InvalidCommand(loop int) {
	if s != nil {
		s.shard(loop).invalid.Add(1)
	}
}

// MaxErrorsClose counts a connection closed for too many invalid commands
// (nginx "client sent too many invalid commands").
func (s *ListenerStats) MaxErrorsClose() {
	if s != nil {
		s.maxErrors.Inc()
	}
}

// Timeout counts a connection closed by a timer in phase p.
func (s *ListenerStats) Timeout(p Phase) {
	if s != nil && p < NumPhases {
		s.timeouts[p].Inc()
	}
}

// TLSHandshake counts one client TLS handshake by result: "ok", "fail" or
// "timeout".
func (s *ListenerStats) TLSHandshake(result string) {
	if s != nil {
		s.tls[metricIndex(metricTLSResults, result)].Inc()
	}
}

func metricSeconds(d time.Duration) float64 {
	if d < 0 {
		return 0
	}
	return d.Seconds()
}

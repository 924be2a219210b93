package stats

import (
	"bytes"
	"testing"
)

// metricLint never panics, keeps one output line per input line, and is
// idempotent (linting a linted scrape changes nothing).
func FuzzMetricLint(f *testing.F) {
	f.Add([]byte("# HELP go_cgo_calls_count\n# TYPE go_cgo_calls_count counter\ngo_cgo_calls_count 3\n"))
	f.Add([]byte("# TYPE process_io_read_bytes_total gauge\nprocess_io_read_bytes_total 1\n"))
	f.Add([]byte("# HELP \n# TYPE\n{ 1\n\n"))
	f.Add([]byte(`a{b="c d"} 1`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out := metricLint(nil, in)
		lines := bytes.Count(in, []byte("\n"))
		if len(in) > 0 && in[len(in)-1] != '\n' {
			lines++
		}
		if got := bytes.Count(out, []byte("\n")); got != lines {
			t.Fatalf("%d lines in, %d out:\n%q\n%q", lines, got, in, out)
		}
		if again := metricLint(nil, out); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}

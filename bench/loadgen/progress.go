package loadgen

import (
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// counters are the live totals a progress line shows; workers add to them.
type counters struct {
	ok, failed atomic.Uint64
	bytes      atomic.Int64
}

// startProgress prints a one-line status on stderr every second while the
// run lasts, when enabled and stderr is a terminal; runs expected to last
// under 3 s stay quiet. The returned function stops it and clears the line.
func startProgress(enabled bool, d time.Duration, mode string, c *counters) func() {
	if !enabled || d < 3*time.Second || !isTerminal(os.Stderr) {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start := time.Now()
		var lastOK uint64
		var lastBytes int64
		for {
			select {
			case <-done:
				fmt.Fprint(os.Stderr, "\r\033[K")
				return
			case now := <-t.C:
				ok, bytes := c.ok.Load(), c.bytes.Load()
				line := fmt.Sprintf("%s %3.0fs/%.0fs  ok %d  failed %d  %d/s", mode, now.Sub(start).Seconds(),
					d.Seconds(), ok, c.failed.Load(), ok-lastOK)
				if bytes > 0 {
					line += fmt.Sprintf("  %.1f MB/s", float64(bytes-lastBytes)/1e6)
				}
				fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
				lastOK, lastBytes = ok, bytes
			}
		}
	}()
	return func() { close(done); <-stopped }
}

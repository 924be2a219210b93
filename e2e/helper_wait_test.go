package e2e

import (
	"testing"
	"time"
)

// Harness: waitFor, the one way e2e tests wait for something to become true.

// waitFor polls cond every 10 ms until it holds, for at most within, and
// fails the test with what() (and the bound) if it never does. Use it for
// an observable the proxy changes asynchronously (a log line, a metric, a
// closed descriptor); a reply on a connection is awaited with a bounded
// read instead (client.expect). cond runs on the test's goroutine, so it
// may call t.Fatal itself (say, when the process it polls has exited), and
// what runs only on failure, after the last cond, so it can report the
// last value seen.
func waitFor(t testing.TB, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s (gave up after %v)", what(), within)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by deadline
	}
}

package e2e

import (
	"testing"
	"time"
)

// Harness: waitFor, the one way e2e tests wait for something to become true.

// waitFor polls cond every 10 ms for at most ioWait.
func waitFor(t testing.TB, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(ioWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", ioWait, what())
		}
		time.Sleep(10 * time.Millisecond) // poll interval, bounded by deadline
	}
}

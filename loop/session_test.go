package loop

import (
	"testing"
	"unsafe"
)

// TestSessionSizeClass keeps an idle session in the 240-byte allocation
// size class: it is most of what an idle pre-auth connection costs
// (bench/RESULTS.md, idle pre-auth RSS against nginx). Rarely used fields
// belong in sessionAuth.
func TestSessionSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(session{}); n > 240 {
		t.Errorf("session is %d bytes, over the 240-byte size class; move rarely used fields to sessionAuth", n)
	}
}

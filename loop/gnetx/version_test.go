package gnetx

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPinnedGnetVersion fails the suite when go.mod moves gnet off the
// version whose internals this package reaches: an upgrade must re-check
// register.go and epoll.go, then move PinnedVersion. (A test binary carries
// no dependency list, so the module graph is asked; a mailproxy binary
// checks its own with CheckVersion at start.)
func TestPinnedGnetVersion(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}{{with .Replace}} replaced by {{.Path}} {{.Version}}{{end}}", GnetModule).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", GnetModule, err)
	}
	if got := strings.TrimSpace(string(out)); got != PinnedVersion {
		t.Fatalf("the module graph has %s %s; loop/gnetx is written for %s: re-check register.go and epoll.go against the new gnet, then move PinnedVersion", GnetModule, got, PinnedVersion)
	}
	if err := CheckVersion(); err != nil {
		t.Fatal(err)
	}
}

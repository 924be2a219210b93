package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// mailproxyBin is the binary built by TestMain from ../cmd/mailproxy.
var mailproxyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailproxy-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	mailproxyBin = filepath.Join(dir, "mailproxy")
	build := exec.Command("go", "build", "-o", mailproxyBin, "./cmd/mailproxy")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil && os.Getenv("E2E_PROXY") != "nginx" {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: cannot build ./cmd/mailproxy: %v\n%s\n", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

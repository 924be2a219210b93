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
	args := []string{"build", "-o", mailproxyBin}
	if os.Getenv("E2E_RACE") == "1" {
		// A race-detector build of mailproxy: run with
		// GORACE=log_path=/tmp/race/mp and read the reports it leaves.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/mailproxy")...)
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

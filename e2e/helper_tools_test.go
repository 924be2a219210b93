package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Harness: running the Debian client programs the tests use (curl,
// openssl, swaks, python3) and checking the lines they print.

// needTool returns the path of a client program scripts/test.sh installs.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run scripts/test.sh (it installs the test clients)", name)
	}
	return p
}

// runTool runs a client program with a 60 s bound and returns its output.
func runTool(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, needTool(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func wantLines(t testing.TB, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !hasLine(out, w) {
			t.Fatalf("output lacks line %q:\n%s", w, out)
		}
	}
}

func hasLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimRight(l, "\r") == want {
			return true
		}
	}
	return false
}

func hasLinePrefixSuffix(out, prefix, suffix string) bool {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.HasPrefix(l, prefix) && strings.HasSuffix(l, suffix) {
			return true
		}
	}
	return false
}

// tlsRun runs a program with input on stdin, bounded to 60 s.
func tlsRun(t testing.TB, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(needTool(t, name), args...)
	cmd.Stdin = strings.NewReader(stdin)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not finish in 60s:\n%s", name, out)
	}
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

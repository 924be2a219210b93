package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The pid file's owner rules (issue 11, D6), one case a line: what the file
// held before we started, what another process wrote meanwhile ("" for
// nothing), and what the file holds after our release ("" for removed).
func TestPidFileRelease(t *testing.T) {
	other := strconv.Itoa(os.Getppid()) + "\n" // a live process that is not us
	const dead = "2147483646\n"                // above pid_max: no such process
	f := func(name, before, meanwhile, want string) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "mailproxy.pid")
		if before != "" {
			if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pf, err := writePidFile(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := os.ReadFile(path)
		if string(b) != strconv.Itoa(os.Getpid())+"\n" {
			t.Fatalf("%s: after write the file holds %q, want our pid", name, b)
		}
		if meanwhile != "" {
			if err := os.WriteFile(path, []byte(meanwhile), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pf.release()
		b, err = os.ReadFile(path)
		switch {
		case want == "" && !os.IsNotExist(err):
			t.Fatalf("%s: after release the file holds %q (%v), want it removed", name, b, err)
		case want != "" && string(b) != want:
			t.Fatalf("%s: after release the file holds %q (%v), want %q", name, b, err, want)
		}
	}
	f("no file before", "", "", "")
	f("stale file of a dead process", dead, "", "")
	f("garbage before", "not a pid\n", "", "")
	f("a running instance's file", other, "", other)
	f("rewritten by another process", "", other, other)
	f("rewritten by another process over a running one", other, dead, dead)
}

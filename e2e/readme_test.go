package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEListsEveryFile: e2e/README.md is where a newcomer finds which
// file holds what, so every .go file here needs its table row ("| `name` |"),
// and a row must not outlive its file.
func TestREADMEListsEveryFile(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	onDisk := map[string]bool{}
	for _, f := range files {
		onDisk[f] = true
		if !strings.Contains(string(readme), "| `"+f+"` |") {
			t.Errorf("e2e/README.md has no row for %s: add a line saying what it holds", f)
		}
	}
	for _, line := range strings.Split(string(readme), "\n") {
		name, ok := strings.CutPrefix(line, "| `")
		if !ok {
			continue
		}
		if name, _, ok = strings.Cut(name, "` |"); ok && strings.HasSuffix(name, ".go") && !onDisk[name] {
			t.Errorf("e2e/README.md lists %s, which is not in e2e/", name)
		}
	}
}

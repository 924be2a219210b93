package gnetx

import (
	"fmt"
	"runtime/debug"
)

// GnetModule and PinnedVersion name the gnet this package was written
// against. Its linknames and reflected field paths are those of this
// version only.
const (
	GnetModule    = "github.com/panjf2000/gnet/v2"
	PinnedVersion = "v2.9.7"
)

// CheckVersion reports an error when the running binary was built with a
// gnet other than PinnedVersion. A binary without module information
// (built outside module mode) passes: Init's shape checks still apply.
func CheckVersion() error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	for _, m := range bi.Deps {
		if m.Path != GnetModule {
			continue
		}
		v := m.Version
		if m.Replace != nil {
			return fmt.Errorf("%s is replaced by %s %s; mailproxy's gnet integration (loop/gnetx) is written for %s only",
				GnetModule, m.Replace.Path, m.Replace.Version, PinnedVersion)
		}
		if v != PinnedVersion {
			return fmt.Errorf("built with %s %s; mailproxy's gnet integration (loop/gnetx) is written for %s only",
				GnetModule, v, PinnedVersion)
		}
		return nil
	}
	return nil
}

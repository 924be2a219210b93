package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Harness: nginx 1.22 with Debian's dynamic mail module, for the parity
// tests (nginx_test.go) and E2E_PROXY=nginx.

// nginxModule is where Debian's libnginx-mod-mail puts the mail module.
const nginxModule = "/usr/lib/nginx/modules/ngx_mail_module.so"

// needNginx returns the nginx binary or fails: in CI scripts/test.sh installs
// nginx and libnginx-mod-mail, so a missing one is a setup error, not a skip.
func needNginx(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 != nil {
			t.Fatalf("nginx not found (%v): run scripts/test.sh, it installs nginx and libnginx-mod-mail", err)
		}
		bin = "/usr/sbin/nginx"
	}
	if _, err := os.Stat(nginxModule); err != nil {
		t.Fatalf("%s missing: run scripts/test.sh, it installs libnginx-mod-mail", nginxModule)
	}
	return bin
}

// startNginx runs a mailproxy-style config (top level + mail{}) under
// nginx 1.22 with the dynamic mail module, in the foreground, with a
// private prefix dir.
func startNginx(t testing.TB, conf string) *proc {
	t.Helper()
	bin := needNginx(t)
	dir := t.TempDir()
	full := "load_module " + nginxModule + ";\ndaemon off;\nmaster_process off;\n" + conf
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	errLog := filepath.Join(dir, "error.log")
	if m := procErrorLogRe.FindStringSubmatch(conf); m != nil {
		errLog = strings.TrimSuffix(m[1], ";")
	}
	return startProc(t, "nginx", full, bin, "-p", dir+"/", "-c", path, "-e", errLog)
}

package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// configGood is a minimal valid config; line numbers matter to the cases
// derived from it below.
const configGood = `worker_processes 2;
events {}
mail {
    auth_http 127.0.0.1:9/auth;
    server {
        listen 127.0.0.1:30143;
        protocol imap;
    }
}
`

func TestConfigTestGood(t *testing.T) {
	t.Parallel()
	path := writeConf(t, configGood)
	out, code := runProxyTest(t, path)
	if code != 0 {
		t.Fatalf("mailproxy -t exit %d, want 0; output:\n%s", code, out)
	}
	for _, want := range []string{
		"mailproxy: the configuration file " + path + " syntax is ok",
		"mailproxy: configuration file " + path + " test is successful",
	} {
		if !hasLine(out, want) {
			t.Fatalf("output lacks line %q:\n%s", want, out)
		}
	}
}

func TestConfigTestErrors(t *testing.T) {
	t.Parallel()
	// f checks a broken config: exit 1, the [emerg] line (emerg is a format
	// with %s for the file path; nginx 1.22 prints the same message for the
	// same file) and the "test failed" line.
	f := func(conf, emerg string) {
		t.Helper()
		path := writeConf(t, conf)
		out, code := runProxyTest(t, path)
		if code != 1 {
			t.Fatalf("exit %d, want 1; output:\n%s", code, out)
		}
		if want := "mailproxy: [emerg] " + fmt.Sprintf(emerg, path); !hasLine(out, want) {
			t.Fatalf("output lacks line %q:\n%s", want, out)
		}
		if want := "mailproxy: configuration file " + path + " test failed"; !hasLine(out, want) {
			t.Fatalf("output lacks line %q:\n%s", want, out)
		}
	}
	f(strings.Replace(configGood, "protocol imap;", "protocol imap;\n        foo bar;", 1),
		`unknown directive "foo" in %s:8`)
	f(strings.Replace(configGood, "worker_processes 2;", "worker_process 2;", 1),
		`unknown directive "worker_process" in %s:1`)
	f(strings.Replace(configGood, "/auth;", "/auth", 1),
		`directive "auth_http" is not terminated by ";" in %s:5`)
	f(strings.Replace(configGood, "        listen 127.0.0.1:30143;\n", "", 1),
		`no "listen" is defined for server in %s:5`)
	f(strings.Replace(configGood, "    auth_http 127.0.0.1:9/auth;\n", "", 1),
		`no "auth_http" is defined for server in %s:4`)
	f(strings.Replace(configGood, "protocol imap;", "protocol imapx;", 1),
		`unknown protocol "imapx" in %s:7`)
	f(strings.Replace(configGood, "    }\n}", "    }\n", 1),
		`unexpected end of file, expecting "}" in %s:10`)
	f(configGood+"mail {\n}\n", `"mail" directive is duplicate in %s:10`)

	// http{} is not nginx's error but mailproxy's: only the form is fixed.
	path := writeConf(t, configGood+"http {\n    server {\n    }\n}\n")
	out, code := runProxyTest(t, path)
	if code != 1 {
		t.Fatalf("http{}: exit %d, want 1; output:\n%s", code, out)
	}
	if !hasLinePrefixSuffix(out, "mailproxy: [emerg] ", " in "+path+":10") {
		t.Fatalf("http{}: want \"mailproxy: [emerg] ... in %s:10\"; output:\n%s", path, out)
	}
}

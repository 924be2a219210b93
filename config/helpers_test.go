package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testLookup resolves a few fixed names so tests never touch DNS.
func testLookup(h string) ([]string, error) {
	switch h {
	case "localhost":
		return []string{"127.0.0.1", "::1"}, nil
	case "auth.example":
		return []string{"192.0.2.10"}, nil
	}
	return nil, errors.New("no such host")
}

// testParse writes src as mail.conf in a fresh directory (plus extra
// files, name → contents) and parses it. It returns the config, the error
// and the main file's path.
func testParse(t *testing.T, src string, extra map[string]string) (*Config, error, string) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range extra {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "mail.conf")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := loadParser(path, nil, testLookup)
	if err != nil {
		return nil, err, path
	}
	return p.cfg, nil, path
}

// testOK parses src and fails the test on error.
func testOK(t *testing.T, src string) *Config {
	t.Helper()
	c, err, _ := testParse(t, src, nil)
	if err != nil {
		t.Fatalf("%q: unexpected error: %v", src, err)
	}
	return c
}

// testServer parses a config with one IMAP server whose body is body and
// a mail level holding mailBody, and returns that server.
func testServer(t *testing.T, mailBody, body string) *Server {
	t.Helper()
	c := testOK(t, "mail {\nauth_http 127.0.0.1:9000/auth;\n"+mailBody+"\nserver {\nlisten 127.0.0.1:1143;\nprotocol imap;\n"+body+"\n}\n}\n")
	if c.Mail == nil || len(c.Mail.Servers) != 1 {
		t.Fatalf("want one server, got %+v", c.Mail)
	}
	return c.Mail.Servers[0]
}

// wantErr checks err's text, with FILE replaced by path.
func wantErr(t *testing.T, err error, path, want string) {
	t.Helper()
	want = strings.ReplaceAll(want, "FILE", path)
	want = strings.ReplaceAll(want, "DIR", filepath.Dir(path))
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if err.Error() != want {
		t.Fatalf("error\n got %q\nwant %q", err.Error(), want)
	}
}

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAcceptOutOfFilesBacksOff: when the process runs out of descriptors,
// accept(2) fails with EMFILE on the event loops that accept; mailproxy
// logs it, backs off and accepts again once descriptors are free, instead
// of stopping (gnet's own acceptor stops the whole engine on it) or
// spinning on the listener. Clients that came while it was out get their
// greeting when it has descriptors again.
func TestAcceptOutOfFilesBacksOff(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logPath := filepath.Join(t.TempDir(), "error.log")
	conf := fmt.Sprintf(`worker_processes 2;
worker_rlimit_nofile 64;
error_log %s info;
events { worker_connections 1000; }
mail {
    auth_http 127.0.0.1:9/auth;
    server {
        listen %s;
        protocol imap;
    }
}
`, logPath, addr)
	p := startProxy(t, conf)

	// Hold connections until accept fails: each one that gets its
	// greeting costs mailproxy a descriptor.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	greeted := 0
	for i := 0; i < 120 && !strings.Contains(readFile(logPath), "too many open files"); i++ {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		held = append(held, c)
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if line, err := bufio.NewReader(c).ReadString('\n'); err == nil && strings.HasPrefix(line, "* OK") {
			greeted++
		}
	}
	log := readFile(logPath)
	if !strings.Contains(log, "accept() failed") || !strings.Contains(log, "too many open files") {
		t.Fatalf("after %d connections (%d greeted) no accept() failure in the log:\n%s", len(held), greeted, tail(log, 2000))
	}
	p.mustBeAlive(t)

	// One waits in the listen queue while mailproxy is out of files.
	waiting, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	for _, c := range held {
		c.Close()
	}
	held = nil
	waiting.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(waiting).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "* OK") {
		t.Fatalf("the connection that waited got %q, %v once descriptors were free\n%s", line, err, p.logs())
	}
	// And new ones are served as before.
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "* OK") {
		t.Fatalf("a new connection got %q, %v\n%s", line, err, p.logs())
	}
	p.mustBeAlive(t)
}

// readFile is the file's content, "" when it cannot be read.
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

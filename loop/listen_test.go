package loop

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"mailproxy/config"
)

// TestListenKeepaliveInherited: SO_KEEPALIVE set on the listening socket
// (listen ... so_keepalive=, or the legacy so_keepalive directive) is
// inherited by the accepted sockets on Linux, which is why mailproxy sets
// nothing per connection; the listen parameter wins over the directive.
func TestListenKeepaliveInherited(t *testing.T) {
	f := func(param string, legacy bool, want int) {
		t.Helper()
		ln, err := listenSocket("tcp", "127.0.0.1:0", &config.Listen{Addr: "127.0.0.1:0", SoKeepalive: param}, legacy)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		a, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		rc, err := a.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		got := -1
		_ = rc.Control(func(fd uintptr) { got, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE) })
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("so_keepalive=%q, directive %v: accepted socket SO_KEEPALIVE %d, want %d", param, legacy, got, want)
		}
	}
	f("", false, 0)
	f("", true, 1)
	f("on", false, 1)
	f("30m::", false, 1)
	f("off", true, 0)
}

package loop

import (
	"context"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mailproxy/config"
)

// listenSocket opens one listening socket with the parameters of its listen
// directive: backlog=, rcvbuf=, sndbuf=, ipv6only=, so_keepalive= and
// multipath, as nginx applies them. Accepted sockets inherit the buffer and
// keepalive options from the listening one on Linux, so nothing is set per
// connection: like nginx, no keepalive unless so_keepalive asks for it.
// keepalive is the legacy so_keepalive directive of the listen's server:
// SO_KEEPALIVE on the listening socket, hence on every accepted one,
// where the listen has no so_keepalive= of its own.
func listenSocket(network, addr string, l *config.Listen, keepalive bool) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	if l != nil && l.Multipath {
		lc.SetMultipathTCP(true)
	}
	var optErr error
	if network == "tcp" {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			err := c.Control(func(fd uintptr) {
				// Linux copies TCP_NODELAY to accepted sockets: the raw
				// accept path (accept.go) sets nothing per connection.
				_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
				if l != nil {
					optErr = listenOptions(int(fd), l, keepalive)
				}
			})
			if err != nil {
				return err
			}
			return optErr
		}
	}
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	if l != nil && l.Backlog > 0 {
		// listen(2) again on a listening socket only changes its backlog.
		if tl, ok := ln.(*net.TCPListener); ok {
			if rc, err := tl.SyscallConn(); err == nil {
				_ = rc.Control(func(fd uintptr) { optErr = unix.Listen(int(fd), l.Backlog) })
			}
		}
		if optErr != nil {
			ln.Close()
			return nil, optErr
		}
	}
	return ln, nil
}

func listenOptions(fd int, l *config.Listen, keepalive bool) error {
	if l.RcvBuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, l.RcvBuf); err != nil {
			return err
		}
	}
	if l.SndBuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, l.SndBuf); err != nil {
			return err
		}
	}
	if l.IPv6Only >= 0 && strings.HasPrefix(l.Addr, "[") {
		// Must be set before bind; only meaningful on IPv6 sockets.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, l.IPv6Only)
	}
	ka := l.SoKeepalive
	if ka == "" && keepalive {
		ka = "on"
	}
	switch ka {
	case "", "off":
	case "on":
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	default:
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
			return err
		}
		parts := strings.Split(ka, ":")
		opts := []int{unix.TCP_KEEPIDLE, unix.TCP_KEEPINTVL, unix.TCP_KEEPCNT}
		for i, p := range parts {
			if p == "" || i >= len(opts) {
				continue
			}
			v, ok := keepaliveValue(p, i == 2)
			if !ok {
				continue
			}
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, opts[i], v); err != nil {
				return err
			}
		}
	}
	return nil
}

// keepaliveValue reads one part of so_keepalive=idle:intvl:cnt: times as
// nginx writes them (30m, 10s, or a number of seconds), the count as is.
func keepaliveValue(p string, count bool) (int, bool) {
	if n, err := strconv.Atoi(p); err == nil {
		return n, n > 0
	}
	if count {
		return 0, false
	}
	d, err := time.ParseDuration(p)
	if err != nil || d < time.Second {
		return 0, false
	}
	return int(d / time.Second), true
}

package loop

import (
	"net"
	"os"
	"strconv"
)

// systemd's notification protocol (sd_notify(3)): with Type=notify and
// NotifyAccess=all the service manager learns when mailproxy is ready,
// reloading or stopping, and, after a binary upgrade (USR2), which
// process is now the main one, so that the old process's exit is not the
// service's. Without NOTIFY_SOCKET (not under systemd) nothing is sent.

// sdNotify sends state ("READY=1", ...) to $NOTIFY_SOCKET, ignoring
// errors: the service manager may be gone. Safe from any goroutine.
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract namespace
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err == nil {
		_, err = c.Write([]byte(state))
		c.Close()
	}
	if err != nil {
		if l := panicLog.Load(); l != nil {
			l.Warn("sd_notify to NOTIFY_SOCKET failed", "socket", path, "err", err.Error())
		}
	}
}

// sdReady says the listeners are up; MAINPID makes a process started by
// an upgrade the service's main process.
func sdReady() {
	sdNotify("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()) + "\nSTATUS=serving")
}

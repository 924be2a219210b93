package gnetx

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"
)

// rawEcho is a gnet handler that finds its loops with Init and echoes
// what registered sockets send, prefixed with their context.
type rawEcho struct {
	gnet.BuiltinEventEngine
	eng    gnet.Engine
	ticked bool
	raw    chan *Engine
	errs   chan error
}

func (h *rawEcho) OnBoot(e gnet.Engine) gnet.Action { h.eng = e; return gnet.None }

func (h *rawEcho) OnTick() (time.Duration, gnet.Action) {
	if !h.ticked {
		h.ticked = true
		re, err := Init(h.eng)
		if err != nil {
			h.errs <- err
		}
		h.raw <- re
	}
	return time.Hour, gnet.None
}

func (h *rawEcho) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if s, ok := c.Context().(string); ok {
		return []byte(s + "\n"), gnet.None
	}
	return nil, gnet.None
}

func (h *rawEcho) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Next(-1)
	_, _ = c.Write(b)
	return gnet.None
}

// TestGnetRawRegister checks that register.go still fits the pinned gnet: it
// finds every loop, and a socket accepted outside gnet and registered with
// it gets its context in OnOpen and is served by the loop.
func TestGnetRawRegister(t *testing.T) {
	h := &rawEcho{raw: make(chan *Engine, 1), errs: make(chan error, 1)}
	done := make(chan error, 1)
	go func() {
		done <- gnet.Run(h, "tcp://127.0.0.1:0", gnet.WithNumEventLoop(2), gnet.WithTicker(true),
			gnet.WithLogLevel(logging.ErrorLevel))
	}()
	var re *Engine
	select {
	case re = <-h.raw:
	case err := <-done:
		t.Fatalf("gnet.Run: %v", err)
	}
	if re == nil {
		t.Fatalf("Init: %v", <-h.errs)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.eng.Stop(ctx)
	}()
	if len(re.Loops) != 2 {
		t.Fatalf("Init found %d loops, want 2", len(re.Loops))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File() // a dup of the listening socket
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lfd := int(f.Fd())
	for i := range 4 {
		cl, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		pfd := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, 10000); err != nil {
			t.Fatal(err)
		}
		fd, sa, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		l := re.PickFrom(re.Loops[0])
		ctxv := "hello" + string(rune('0'+i))
		regErr := make(chan error, 1)
		err = l.EL.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			regErr <- re.Register(l, fd, "tcp", ln.Addr(), SockaddrAddr(sa), ctxv)
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		if err := <-regErr; err != nil {
			t.Fatal(err)
		}
		_ = cl.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := cl.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		want := ctxv + "\nping"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(cl, got); err != nil || string(got) != want {
			t.Fatalf("conn %d read %q, %v; want %q", i, got, err, want)
		}
		cl.Close()
	}
}

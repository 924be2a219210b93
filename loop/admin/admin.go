package admin

import (
	"context"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"mailproxy/loop/stats"
)

// Admin is the admin HTTP listener (`admin { listen 127.0.0.1:9145; }`):
// /metrics, /livez and /readyz. It runs its own goroutines on
// fasthttp, never on the gnet event loops. Its methods are safe to call from
// any goroutine.
type Admin struct {
	ln    net.Listener
	srv   *fasthttp.Server
	ready func() bool
	done  chan struct{} // closed when Serve returns
}

// Admin server limits: the endpoints are tiny, so anything slow or large is
// a misbehaving client.
const (
	adminTimeout      = 10 * time.Second
	adminIdleTimeout  = 60 * time.Second
	adminCloseTimeout = 5 * time.Second
)

var (
	adminTextType   = []byte("text/plain; charset=utf-8")
	adminMetricType = []byte("text/plain; version=0.0.4; charset=utf-8")
)

// Start listens on addr (host:port; port 0 picks a free one) and serves:
//
//	/metrics  Prometheus text format: mailproxy_*, go_*, process_* (fds included)
//	/livez    200 "ok" while the process runs
//	/readyz   200 "ready" when ready() is true, else 503 "not ready"
//	          (ready is false before the listeners are up and while draining;
//	          a nil ready counts as always ready)
//
// Any other path is 404.
func Start(addr string, ready func() bool) (*Admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return Serve(ln, ready), nil
}

// Serve is Start on a listener already open (one inherited across a
// binary upgrade).
func Serve(ln net.Listener, ready func() bool) *Admin {
	a := &Admin{ln: ln, ready: ready, done: make(chan struct{})}
	a.srv = &fasthttp.Server{
		Handler:              a.handle,
		Name:                 "mailproxy",
		ReadTimeout:          adminTimeout,
		WriteTimeout:         adminTimeout,
		IdleTimeout:          adminIdleTimeout,
		MaxRequestBodySize:   4096,
		Concurrency:          64,
		CloseOnShutdown:      true,
		NoDefaultDate:        true,
		NoDefaultContentType: true,
	}
	go func() {
		defer close(a.done)
		_ = a.srv.Serve(ln)
	}()
	return a
}

// Addr returns the address the admin listener is bound to.
func (a *Admin) Addr() net.Addr { return a.ln.Addr() }

// Close stops accepting, lets requests in flight finish (bounded by a few
// seconds), and returns when the server goroutine has ended.
func (a *Admin) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), adminCloseTimeout)
	defer cancel()
	err := a.srv.ShutdownWithContext(ctx)
	// Shutdown does nothing if Serve has not yet registered the listener
	// (Close right after Start); closing it here ends Serve either way.
	a.ln.Close()
	<-a.done
	return err
}

func (a *Admin) handle(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		adminText(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}
	switch string(ctx.Path()) {
	case "/metrics":
		ctx.Response.Header.SetContentTypeBytes(adminMetricType)
		if err := stats.WriteScrape(ctx); err != nil {
			ctx.Error("scrape failed", fasthttp.StatusInternalServerError)
		}
	case "/livez":
		adminText(ctx, fasthttp.StatusOK, "ok")
	case "/readyz":
		if a.ready == nil || a.ready() {
			adminText(ctx, fasthttp.StatusOK, "ready")
		} else {
			adminText(ctx, fasthttp.StatusServiceUnavailable, "not ready")
		}
	default:
		adminText(ctx, fasthttp.StatusNotFound, "not found")
	}
}

func adminText(ctx *fasthttp.RequestCtx, code int, body string) {
	ctx.SetStatusCode(code)
	ctx.Response.Header.SetContentTypeBytes(adminTextType)
	ctx.SetBodyString(body)
}

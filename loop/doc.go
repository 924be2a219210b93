// Package loop is mailproxy's engine: gnet event loops that own every
// session, Go-owned listeners that hand accepted connections to the loops,
// the per-protocol pre-auth state machines, the auth_http calls, the
// backend login dialogue and the relay.
//
// Hot path (gnetraw.go, accept.go, dial.go, authloop.go): accepted sockets,
// backend connections and auth_http connections are bare non-blocking
// sockets registered straight into gnet's loops, so a login runs on its
// loop from the client's command to the relay without a goroutine
// hand-off, as in nginx. When gnet's internals are not the expected ones
// (or MAILPROXY_GNETRAW=off), the same work goes through net.Conn,
// Engine.Register/EventLoop.Enroll and a bounded worker Pool running the
// fasthttp auth client; that path also serves auth_http endpoints named by
// host name.
//
// Ownership: a session (client conn, backend conn, parser, timers) belongs
// to the event loop its client conn was registered on, and is only touched
// from that loop's callbacks or from closures run with EventLoop.Execute.
// Every deferred path first checks session.closed: a gnet.Conn that was
// closed may already name another client's socket (gnet-notes §11.3).
//
// Limits: gnet has no read backpressure, so pause.go stops reading a source
// with epoll_ctl while the other side holds more than proxy_buffer bytes
// (gnet-notes §2.5); gnet has no timers, so clock.go keeps a timer heap per
// loop driven by one ticker goroutine.
package loop

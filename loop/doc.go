// Package loop is mailproxy's session engine: gnet event loops that own
// every session, Go-owned listeners that the loops accept on themselves
// (accept.go: a doorbell per listener per loop), the three protocols' pre-auth state machines, the auth_http
// exchange from the session's side, the backend login dialogues, the
// relay and the loop-local timers. It is one package on purpose: these
// share the session as nginx's mail handlers share ngx_mail_session_t.
//
// Where things are:
//   - server.go (Run, Check, listeners, drain), reload.go, accept.go,
//     listen.go: the process and its sockets; eventloop.go (loopState),
//     clock.go (timers), pause.go (read pausing), pool.go (workers);
//   - handler.go: the gnet callbacks, thin, which find the session and
//     hand over; recover.go: a panic ends one session, never the process;
//   - session.go (the session, its wait states), io.go (reading and
//     writing a side, plain or TLS), relay.go, backend.go, dial.go;
//   - proto.go: protoOps, where the protocols differ, and opsFor; then
//     imap.go, pop3.go + pop3_backend.go, smtp.go + smtp_backend.go, each
//     with its own typed steps; sasl.go (the SASL exchange all three
//     share); resolver.go (SMTP's client lookups); proxyproto.go;
//     tls_session.go (handshakes, STARTTLS, TLS to backends, Auth-SSL-*);
//     auth.go (the request, the worker hand-off, the answer);
//     authcache.go (auth_http_cache hits on the loop); authhttp.go (the
//     auth_http servers of a config as an authhttp.Group); authwake.go
//     (auth_http answers ring a loop doorbell, not Go's netpoller); edge.go
//     (the edge defence's hooks: access lists, caps, bans).
//
// Leaf services, each a package with its own doc.go: loop/authhttp (the
// fasthttp auth_http client, several servers, https, the auth cache),
// loop/mailtls (crypto/tls over gnet, the ssl_* config), loop/dns (stub resolver), loop/stats (metrics),
// loop/admin (the admin HTTP listener), loop/gnetx (every use of gnet's
// internals), loop/limits (the edge defence's tables and the Redis store).
//
// Ownership: a session (client conn, backend conn, parser, timers) belongs
// to the event loop its client conn was registered on, and is only touched
// from that loop's callbacks or from closures run with EventLoop.Execute.
// Every deferred path first checks session.closed: a gnet.Conn that was
// closed may already name another client's socket (gnet-notes §11.3).
// Blocking work (the auth_http call, DNS, TLS handshakes) runs off the
// loop with plain values and reports back through Execute.
//
// Limits: gnet has no read backpressure, so pause.go stops reading a source
// (loop/gnetx) while the other side holds more than its buffer (gnet-notes
// §2.5); gnet has no timers, so clock.go keeps a timer heap per loop
// driven by one clock goroutine that ticks every 10 ms while sessions are
// open and sleeps when there are none.
package loop

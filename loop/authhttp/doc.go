// Package authhttp is mailproxy's one auth_http client, on fasthttp
// (design card): nginx's request, header for header
// (codec.AppendAuthHeaders), on kept-alive HTTP/1.1 connections, and the
// answer judged by nginx's rules (codec.ParseAuthResponse), not by
// fasthttp's.
//
// Behaviour, documented once (README "Where mailproxy differs"):
//   - an answer belongs to the request in flight on its connection and to
//     nothing else (DESIGN.md). A connection serves one request at a time;
//     it is reused only when the bytes read end exactly at the answer's
//     end (the header block and the body its headers announce, a length
//     or chunked, already read with it), over HTTP/1.1 without
//     "Connection: close". Bytes past the end, a body not all there, an
//     HTTP/1.0 answer, one without a status line, or a body delimited by
//     the close: the connection is closed after the answer, as nginx
//     closes every auth connection;
//   - the answer is acted on once its header block is parsed, as nginx
//     does: Do never waits for a body (the protocol does not use one);
//   - before a request is written on a kept-alive connection, a
//     non-blocking peek looks for anything that arrived while it was idle
//     (a second, unsolicited answer; the server's close); if there is, the
//     connection is closed and the request goes out on a new one, so the
//     auth server sees it once, there. Bytes that arrive after the peek
//     and before the answer cannot be told from the answer;
//   - a kept-alive connection that fails before the first byte of the
//     answer (it went stale while idle) is retried once on a new one; a
//     new connection that the server closes unanswered is not retried, so
//     the auth server sees the request once, as from nginx;
//   - the whole call ends within its timeout (auth_http_timeout), which
//     covers waiting for a free connection, connecting (a replacement
//     connection too), the retry and the header block.
//
// fasthttp does not let a client see the bytes it read, nor take a
// response without a status line, so the client works around it in six
// places, each explained where it is (client.go, conn.go):
//   - authConn records the first bytes read after each request, and counts
//     all of them, so the answer is parsed by nginx's rules from the raw
//     bytes and its end is known (framing.go);
//   - authConn keeps a request's turn on the connection until Do has read
//     its answer: fasthttp pools a connection early for an answer that can
//     have no body (204, 304);
//   - authConn replaces its socket under fasthttp (a new dial inside the
//     request's first write) when the peek finds the old one unusable, so
//     fasthttp's pool and retry count stay as they are;
//   - authConn lends fasthttp a status line ("HTTP/1.0 200 OK") when the
//     server sent none (reference §2.5); the recording keeps the raw bytes;
//   - Do finds the authConn of a call through Response.LocalAddr, the one
//     connection-specific value fasthttp hands back (authConnAddr);
//   - Do leaves the Response in the request's user values, so that the
//     retry hook can tell a reused connection from a fresh one.
//
// Beyond nginx's one plain-HTTP server (issue 15; README "Extensions"):
//   - Group (group.go): the servers of an auth_http with several URLs,
//     round robin over those in service, failover to the next server for
//     an error before any byte of an answer (errSilent: refused, reset,
//     closed, timed out, TLS refused) within the same timeout, DownPeriod
//     out of service, then one probe; per-server counters for the metrics;
//   - https:// (NewTLSClient): the handshake is made in the dial, under
//     authConn, so the recording holds plaintext; fasthttp is told the
//     connection is TLS (IsTLS, TLSConfig) and leaves it as it is because
//     authConn has a Handshake method. Over TLS the idle check is a read
//     with a deadline in the past instead of a socket peek (a session
//     ticket is a record without data, and tls.Conn may hold decrypted
//     bytes the socket no longer shows);
//   - host names (resolve.go, lookup.go): /etc/hosts first, for
//     ResolvePeriod; then DNS with TTLs through loop/dns, asking the
//     resolver directive's name servers (Client.SetResolver; valid=
//     replaces the TTLs) or resolv.conf's; Go's resolver, for
//     ResolvePeriod, where a search list applies or there is no name
//     server. A and AAAA, every address dialed in turn, a refused one
//     handing the dial to the next. The set is kept for the smallest TTL
//     of its records, between ResolveMinTTL (1 s) and ResolveMaxTTL
//     (10 min; valid= is not capped); a failed lookup keeps the old set
//     and waits ResolveRetry (1 s) before the next. The lookup runs in
//     the dialing worker that finds the set due (with an old set, in half
//     of its call's time), the others dial the old set meanwhile. A
//     kept-alive connection whose address left the set is replaced
//     before its next request (authConn.moved), so traffic follows the
//     DNS rather than staying on the connections already open;
//   - Waiter (conn.go, SetWaker): a plain connection's reads do not park
//     in Go's netpoller; they read non-blocking and wait on a doorbell an
//     event loop rings when the socket is readable (loop/authwake.go), so
//     that the answer wakes a loop and the worker runs on its thread;
//     https:// connections, and a connection whose loop is gone, read
//     through Go's netpoller;
//   - Cache (cache.go): the auth cache, keyed by an HMAC of the
//     credentials, safe for every event loop at once.
//
// The request's header lines are built by codec (the same bytes the
// parity tests compare with nginx's) and handed to fasthttp line by line
// (authAddLines), with header normalisation off so they go out as built.
//
// Goroutines: Client is safe for concurrent use. Do blocks; mailproxy
// calls it from its worker pool (loop/pool.go), never on an event loop.
package authhttp

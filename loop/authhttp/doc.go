// Package authhttp is mailproxy's one auth_http client, on fasthttp
// (design card): nginx's request, header for header
// (codec.AppendAuthHeaders), on kept-alive HTTP/1.1 connections, and the
// answer judged by nginx's rules (codec.ParseAuthResponse), not by
// fasthttp's.
//
// Behaviour, documented once (README "Where mailproxy differs"):
//   - a connection serves one request at a time and is reused while the
//     server keeps it alive (HTTP/1.1 without "Connection: close", a body
//     of known length or chunked, read and dropped); an HTTP/1.0 answer,
//     one without a status line, or a body delimited by the close is
//     closed after the answer, as nginx closes every auth connection;
//   - a kept-alive connection that fails before the first byte of the
//     answer (it went stale while idle) is retried once on a new one; a
//     new connection that the server closes unanswered is not retried, so
//     the auth server sees the request once, as from nginx;
//   - the whole call ends within its timeout (auth_http_timeout), which
//     covers waiting for a free connection, connecting, the retry and the
//     header block.
//
// fasthttp does not let a client see the bytes it read, nor take a
// response without a status line, so the client works around it in four
// places, each explained where it is (client.go):
//   - authConn records the first bytes read after each request, so the
//     answer is parsed by nginx's rules from the raw bytes;
//   - authConn lends fasthttp a status line ("HTTP/1.0 200 OK") when the
//     server sent none (reference §2.5); the recording keeps the raw bytes;
//   - Do finds the authConn of a call through Response.LocalAddr, the one
//     connection-specific value fasthttp hands back (authConnAddr);
//   - Do leaves the Response in the request's user values, so that the
//     retry hook can tell a reused connection from a fresh one.
//
// The request's header lines are built by codec (the same bytes the
// parity tests compare with nginx's) and handed to fasthttp line by line
// (authAddLines), with header normalisation off so they go out as built.
//
// Goroutines: Client is safe for concurrent use. Do blocks; mailproxy
// calls it from its worker pool (loop/pool.go), never on an event loop.
package authhttp

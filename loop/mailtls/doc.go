// Package mailtls is mailproxy's TLS: Go's crypto/tls run over gnet, which
// has none.
//
//   - adapter.go: a session's tls.Conn over an in-memory net.Conn. The
//     handshake runs in a short-lived goroutine; the data phase runs on
//     the session's event loop through a non-blocking shim whose "would
//     block" crypto/tls treats as resumable (gnet-notes §4;
//     TestTLSWouldBlockContract guards it).
//   - config.go: the ssl_* and proxy_ssl_* directives mapped onto
//     tls.Config, per listener (Server), rebuilt on every reload.
//   - confcommand.go: ssl_conf_command applied over the ssl_* settings.
//   - cipherorder.go: the TLS 1.2 suite chosen as OpenSSL chooses it
//     (client order, or ssl_ciphers order with server preference).
//   - sessioncache.go: ssl_session_cache builtin/shared with tickets
//     off, a bounded server-side session store (TLS 1.2 session-ID
//     resumption is not possible over crypto/tls: see there).
//   - pkcs8.go: encrypted PKCS#8 keys (PBES2 with PBKDF2, AES-CBC or
//     DES-EDE3-CBC, RFC 8018) decrypted for ssl_password_file, which
//     crypto/x509 does not do.
//   - verify.go: client certificates checked after the handshake as nginx
//     checks them (ssl_verify_client, depth, CRLs), with nginx's wording.
//
// Handshakes and their bounds (issue 11, D2: a fixed pool of 4,096
// slots, each held from accept until the handshake ended, let 4,100
// silent connections lock every TLS client out):
//
//   - A client handshake has no goroutine and no tls.Conn until the
//     client's first record is whole (ShouldStart): a silent client costs
//     its session and nothing more, a trickled ClientHello its bytes
//     (at most HandshakeBuffer). crypto/tls cannot resume a handshake on
//     another goroutine (its state is on the stack; no fork), so from the
//     first record to the end the goroutine stays, mostly parked on the
//     shim's condition variable.
//   - Slots count runnable handshakes only: the goroutine takes one of
//     its side's RunnableHandshakes while crypto/tls computes and gives
//     it back whenever the shim's Read waits for the peer; one that finds
//     none waits (FIFO) instead of failing. So the bound shares the CPU
//     between handshakes and the event loops; it refuses no one.
//   - Clients and backends have separate gates, so proxy_ssl and
//     proxy_starttls handshakes never queue behind client ones. A backend
//     handshake starts at once (its ClientHello is work).
//   - No deadline in crypto/tls (a context with one costs a second
//     goroutine per handshake): the session's timer, armed at accept and
//     on every phase change, closes the session, and close aborts the
//     shim, which wakes the goroutine. Waiting handshakes are therefore
//     bounded by timeout and the connection caps (worker_connections).
//
// Goroutines: NewServer runs on the goroutine that starts or reloads the
// proxy; a Server is immutable and shared by the loops. A Conn belongs to
// one session's loop, except that Handshake runs in the handshake
// goroutine and Feed/Abort may race with it under the shim's lock. Never
// call Conn methods from gnet's OnClose (gnet may run it inside a failing
// Write that tls.Conn.Write issued while holding its lock).
package mailtls

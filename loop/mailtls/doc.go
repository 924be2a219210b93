// Package mailtls is mailproxy's TLS: Go's crypto/tls run over gnet, which
// has none.
//
//   - adapter.go: a session's tls.Conn over an in-memory net.Conn. The
//     handshake runs in a short-lived goroutine (bounded by the handshake
//     slots); the data phase runs on the session's event loop through a
//     non-blocking shim whose "would block" crypto/tls treats as
//     resumable (gnet-notes §4; TestTLSWouldBlockContract guards it).
//   - config.go: the ssl_* and proxy_ssl_* directives mapped onto
//     tls.Config, per listener (Server), rebuilt on every reload.
//   - pkcs8.go: encrypted PKCS#8 keys (PBES2 with PBKDF2, AES-CBC or
//     DES-EDE3-CBC, RFC 8018) decrypted for ssl_password_file, which
//     crypto/x509 does not do.
//   - verify.go: client certificates checked after the handshake as nginx
//     checks them (ssl_verify_client, depth, CRLs), with nginx's wording.
//
// Goroutines: NewServer runs on the goroutine that starts or reloads the
// proxy; a Server is immutable and shared by the loops. A Conn belongs to
// one session's loop, except that Handshake runs in the handshake
// goroutine and Feed/Abort may race with it under the shim's lock. Never
// call Conn methods from gnet's OnClose (gnet may run it inside a failing
// Write that tls.Conn.Write issued while holding its lock).
package mailtls

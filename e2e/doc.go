// Package e2e holds mailproxy's end-to-end tests. It has no library code:
// every helper lives in a _test.go file, the harness in helper_*_test.go
// (README.md lists every file).
//
// TestMain builds ./cmd/mailproxy into a temporary directory; each test
// writes an nginx-syntax config, starts the binary on loopback ports and
// drives it the way a user's client would, against:
//
//   - a scripted auth_http server (helper_authserver_test.go) that records
//     every request header block verbatim and answers from a per-test
//     function;
//   - a scripted IMAP backend (helper_imapbackend_test.go) that checks
//     nginx's exact backend LOGIN dialogue (reference §3.1.5) and then
//     serves a tiny IMAP command set for relay tests;
//   - a private Dovecot instance (helper_dovecot_test.go, config template
//     in scripts/dovecot/) for real-client tests with Python imaplib and
//     curl;
//   - nginx 1.22's mail module (helper_nginx_test.go, nginx_test.go) as the
//     parity oracle: the same transcripts go through both proxies and the
//     client lines, the auth_http requests and the backend login bytes are
//     compared.
//
// External programs (dovecot, nginx + libnginx-mod-mail, python3, curl) are
// installed by scripts/test.sh; a test that needs one and does not find it
// fails with "run scripts/test.sh" rather than skipping.
//
// Everything listens on 127.0.0.1 high ports. Waits are bounded reads and
// bounded polls (waitFor), never sleeps used as synchronisation.
package e2e

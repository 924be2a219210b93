// Package mockauth is a mock auth_http server for benchmarks and tests: it
// speaks the nginx mail auth_http protocol (reference §2) and answers fast
// enough never to be the bottleneck of a proxy under load.
//
// It accepts HTTP/1.0 requests (one per connection, as nginx sends them) and
// HTTP/1.1 keepalive (as mailproxy's fasthttp pool sends them), and counts
// TCP accepts apart from requests so a run shows how many connections the
// proxy opened per login. GET /stats answers those counters as JSON.
//
// Decisions: a user is accepted when its password matches the user's entry
// in Config.Users or, failing that, one of Config.Passwords (no rule at all
// accepts everyone). apop and cram-md5 digests are checked against the same
// candidate passwords and the plain password is returned in Auth-Pass, which
// the proxy needs for the backend login (reference §2.6). A failure answers
// "Auth-Status: <Config.FailText>" with "Auth-Wait: <Config.Wait>".
//
// Limits: one goroutine per connection; request headers must fit 4 KiB;
// Auth-Server must be an IP literal as nginx requires, so Backends are
// "ip:port" strings. Not a general HTTP server: the body of a request is
// never read.
package mockauth

// Package config reads mailproxy's configuration, which is written in
// nginx's configuration syntax, and returns an immutable, validated Config.
//
// A config that nginx accepts for its mail module is accepted unchanged:
// the lexer follows ngx_conf_read_token (quotes, escapes, comments, line
// counting), the directive table covers all eight mail modules plus the
// core/main and events directives real configs carry, mail→server
// inheritance follows each module's merge function, and error messages are
// nginx's text after "[emerg] ", including " in FILE:LINE".
//
// Differences from nginx, on purpose:
//   - A relative include path resolves against the directory of the main
//     config file (nginx resolves it against its conf prefix, which for a
//     packaged nginx is the directory of nginx.conf as well).
//   - http{} and stream{} are rejected with a message explaining why.
//   - Every directive of nginx's mail modules is known and built; the
//     parser accepts each as nginx documents it (what the engine does
//     differently is in the README). Certificates and keys are loaded by
//     the engine, at start and by -t.
//   - admin { listen ADDR; } (metrics and health endpoints) and
//     pop3_client_buffer are mailproxy extensions.
//   - A listen without a port is rejected ("no port"); nginx silently
//     takes port 0 there. Port ranges are not accepted.
//
// The package also provides the slog levels and the nginx-style log
// handler shared by the command and the engine (log.go), with syslog
// targets in nginx's BSD-syslog format (RFC 3164 section 4.1; syslog.go,
// syslog_send.go).
package config

// Package mockbackend is a mock IMAP, POP3 and SMTP mail store for benchmarks
// and tests: it accepts any login and serves one message of a configurable
// size, so a proxy in front of it can be measured for logins and relay.
//
// IMAP (RFC 9051 / 3501 subset): greeting, CAPABILITY, LOGIN with quoted
// strings, atoms and literals (synchronizing "{n}" answered with "+ go
// ahead", and LITERAL+ "{n+}"), AUTHENTICATE PLAIN, SELECT/EXAMINE,
// FETCH/UID FETCH (the message as a literal), NOOP, IDLE/DONE, APPEND (the
// literal is read and dropped), LIST, LOGOUT. This covers what nginx sends
// for a backend login (reference §3.1.5: "a1 LOGIN {n}" then "user {n}" then
// the password).
//
// POP3 (RFC 1939 subset): USER, PASS, APOP, STAT, LIST, UIDL, RETR, TOP,
// DELE, RSET, NOOP, CAPA, QUIT.
//
// SMTP (RFC 5321 subset): EHLO (multi-line, advertising XCLIENT and AUTH),
// HELO, XCLIENT (answered with a fresh 220 like Postfix), AUTH PLAIN and
// LOGIN, MAIL, RCPT, DATA (read to the final dot and dropped), RSET, NOOP,
// QUIT.
//
// Limits: one goroutine per connection with pooled 4 KiB bufio buffers;
// command lines longer than 4 KiB close the connection; replies are built
// once, with the client's IMAP tag appended per command.
package mockbackend

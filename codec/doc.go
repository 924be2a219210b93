// Package codec holds mailproxy's pure parsers and encoders for the mail
// protocols: functions over []byte with no I/O, no goroutines and no
// allocation on the hot path. Parsers take the bytes read so far and return
// a Result (Done, NeedMore, Invalid, Continue) and how many bytes they
// consumed; parsed arguments alias the input and are valid until the caller
// drops those bytes, so anything kept longer must be copied.
//
// IMAP (IMAPParser): the pre-authentication subset of the RFC 3501 §9 /
// RFC 9051 §9 grammar that nginx's mail module understands — CAPABILITY,
// NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE — plus ID (RFC 2971), which
// nginx lacks. Arguments are atoms, quoted strings and literals, both
// synchronizing {n} and non-synchronizing {n+} (RFC 7888 LITERAL+). CRLF or
// a bare LF ends a line. The parser is resumable and keeps only offsets
// between calls, so the caller may move its buffer.
//
// SASL: base64 (RFC 4648), PLAIN (RFC 4616), LOGIN (its fixed prompts),
// CRAM-MD5 responses and nginx's salt (RFC 2195), EXTERNAL (RFC 4422
// Appendix A), mechanism names; ReadLine reads continuation lines.
//
// Limits (nginx's, see the constants):
//   - IMAP tags: 1–IMAPMaxTag (32) bytes of [A-Za-z0-9-._].
//   - IMAP arguments: at most IMAPMaxArgs (3); a fourth is Invalid.
//   - Line and command length: the caller's limit (imap_client_buffer),
//     literals included; beyond it the command is Invalid and the session
//     must close. Literal lengths are overflow-checked against it.
//   - CRAM-MD5 digest: exactly 32 bytes.
//
// Where nginx's behaviour was a bug (the {0} literal taking a byte, any
// backslash escape accepted, an empty PLAIN login) this package does the
// correct thing; each place says so.
package codec

// Package loadgen drives IMAP, POP3 and SMTP servers or proxies over TCP and
// measures them: login rate and latency (closed loop, or open loop at a fixed
// rate with latency counted from each session's intended start, so a stalled
// server cannot hide its queue: the coordinated-omission correction), memory
// per idle connection, and relay throughput.
//
// Each run is bounded by a duration and optionally a count. The process tree
// of the server under test (Options.PIDs and all descendants) is sampled from
// /proc for CPU time (utime+stime of every thread) and memory (VmRSS and the
// proportional Pss from smaps_rollup), so figures hold for nginx's master and
// workers as for a single mailproxy process.
//
// The client dialogues follow the RFCs and what nginx and mailproxy accept
// before auth (reference §3): IMAP "a1 LOGIN user pass", POP3 USER/PASS,
// SMTP EHLO + AUTH PLAIN with an initial response. TLS is either implicit
// (handshake right after connect) or STARTTLS: greeting in plaintext, then
// IMAP "s0 STARTTLS" (RFC 9051 §6.2.1), POP3 STLS (RFC 2595 §4) or SMTP
// EHLO + STARTTLS (RFC 3207; EHLO again over TLS, §4.2), then the handshake
// and the same dialogue. Either way every connection pays a full handshake
// (with Resume: one client session cache for the run, so they resume) and
// the certificate is not verified; reports count the handshakes, the
// resumed ones and the key exchange each negotiated. Error kinds are "phase:reason", e.g.
// "login:rejected", "greeting:timeout", "dial:refused", "tls:rejected".
//
// Limits: one goroutine per client connection (the generator is not the
// product); a single process can hold at most RLIMIT_NOFILE connections, so
// idle runs beyond that need several processes. Source addresses can be
// spread over 127.0.0.x to multiply the ephemeral port space.
package loadgen

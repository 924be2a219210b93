// Package limits is mailproxy's edge defence: access lists, per-address
// connection caps and rates, pre-auth caps, and failure budgets with bans
// and a tarpit, kept in bounded tables (issue 14).
//
// It is called from the event loops (at open, after a PROXY header, before
// and after each auth_http call, at close), so every call is non-blocking
// and O(1) amortised: the tables are split in shards, each behind its own
// short mutex, and nothing waits on I/O under a lock. All methods are safe
// for concurrent use from any goroutine. A Limiter belongs to the running
// process and is kept across reloads: the Policy (what the configuration
// says) is per server and swapped on reload; the counters and bans are in
// the Limiter and survive it.
//
// Tables and their bounds:
//   - conns: concurrent connections per client address (prefix). An entry
//     lives while the address has a connection open and is removed at zero,
//     so it is bounded by the open connections (worker_connections), not by
//     limit_table_size.
//   - hot: one entry per client address (prefix) or login name: the rate
//     bucket, the failure window and count, the ban, the tarpit step. LRU
//     with at most limit_table_size entries; a flood of distinct addresses
//     evicts the least recently seen, never grows past the bound.
//   - trusted: address+login pairs that logged in successfully, so that a
//     per-login ban does not lock out a user's own addresses. LRU, same
//     bound, separate so that a flood cannot evict it (only a successful
//     login adds to it).
//
// Keys are 16 bytes: an address is its IPv6 form (IPv4 as v4-mapped),
// masked to limit_ipv6_prefix for IPv6; a login (case-folded) or a pair is
// the first 16 bytes of its SHA-256, so no crafted login can collide with
// another key.
//
// Limits: counts are per process unless a Store shares them (store.go);
// an evicted key forgets its failures and ban.
package limits

// Package dns is a DNS stub client (RFC 1035 §4) with a cache, for the SMTP
// resolver, the auth_http host names (loop/authhttp lookup.go, which keeps
// its own address sets and so uses a Client per lookup: the cache does not
// outlive it) and their load-time check (config): one question per message over UDP,
// TCP when the answer is truncated (RFC 7766). It asks the configured name
// servers only: unlike Go's net.Resolver it reads neither /etc/hosts (which
// would answer 127.0.0.1 with "localhost") nor resolv.conf's search list,
// and it tells an empty answer from NXDOMAIN (nginx's ngx_resolver behaves
// the same way). Result codes are nginx's resolver states, which its log
// lines print. Answers are read as nginx 1.22 reads them (message.go
// parse): those it ignores count as none, and the name servers are asked in
// its order; the one addition is that a PTR answered with a CNAME only is
// followed.
//
// Goroutines: Client.Ask and Exchange block on the network; mailproxy
// calls them from its worker pool (and while loading the config), never
// from an event loop. A Client is
// safe for concurrent use. What the answers mean for an SMTP session
// (nginx's decision table, Client-Host) is loop/resolver.go's.
package dns

package loop

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"mailproxy/config"
	"mailproxy/loop/authhttp"
	"mailproxy/loop/mailtls"
	"mailproxy/loop/stats"
)

// authGroup returns the auth_http servers of sc as a Group, reusing the
// clients (their kept-alive connections and up/down state) that an
// earlier configuration made for the same URL and TLS material, and a new
// auth cache when auth_http_cache is on: a reload flushes the cache. A
// host name is looked up with sc's resolver directive (authResolver), so
// a client for a name is shared only by servers with the same resolver.
// Called by the goroutine running Run.
func (rt *runtimeState) authGroup(sc *config.Server) (*authhttp.Group, *authhttp.Cache, error) {
	tc, err := mailtls.AuthHTTPConfig(sc)
	if err != nil {
		return nil, nil, err
	}
	res := authResolver(sc)
	cs := make([]*authhttp.Client, 0, len(sc.AuthHTTPServers))
	for _, u := range sc.AuthHTTPServers {
		key := u.Addr + "|" + u.Host + "|" + u.URI
		if authHostIsName(u.Addr) {
			key += "|dns|" + res.Key()
		}
		if u.TLS {
			key += "|tls|" + authTLSFingerprint(sc)
		}
		ac := rt.auths[key]
		if ac == nil {
			if u.TLS {
				ac = authhttp.NewTLSClient(u.Addr, u.Host, u.URI, 4*64*rt.numLoops, tc)
			} else {
				ac = authhttp.NewClient(u.Addr, u.Host, u.URI, 4*64*rt.numLoops)
			}
			ac.SetResolver(res)
			ac.SetWaker(rt.newAuthWaiter) // answers wake a loop (authwake.go)
			rt.auths[key] = ac
			stats.AuthConnsOpened(u.Addr, ac.ConnsOpened)
			stats.AuthEndpoint(u.Addr, stats.AuthEndpointFuncs{Requests: ac.Requests, Errors: ac.Errors, Up: ac.Up})
		}
		cs = append(cs, ac)
	}
	log := rt.log
	g := authhttp.NewGroup(cs, func(c *authhttp.Client, err error) {
		log.Warn(err.Error()+", marked down for "+strconv.Itoa(int(authhttp.DownPeriod.Seconds()))+"s", "auth_http", c.Addr())
	})
	var cache *authhttp.Cache
	if sc.AuthHTTPCache.Size > 0 {
		cache = authhttp.NewCache(sc.AuthHTTPCache)
	}
	return g, cache, nil
}

// authResolver is the DNS side of the auth_http host-name lookups of sc:
// its resolver directive, or resolv.conf's name servers without one.
func authResolver(sc *config.Server) authhttp.Resolver {
	if len(sc.Resolver) == 0 {
		return authhttp.Resolver{}
	}
	return authhttp.Resolver{Servers: sc.Resolver, Timeout: sc.ResolverTimeout, Valid: sc.ResolverValid,
		NoIPv4: !sc.ResolverIPv4, NoIPv6: !sc.ResolverIPv6}
}

// authHostIsName: addr ("host:port" or "unix:/path") names its host.
func authHostIsName(addr string) bool {
	if strings.HasPrefix(addr, "unix:") {
		return false
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	_, err = netip.ParseAddr(host)
	return err != nil
}

// authTLSFingerprint names the TLS material of sc's https:// servers by
// content, so that a reload with a new CA or certificate in the same file
// makes new clients (the old ones are retired) instead of reusing them.
func authTLSFingerprint(sc *config.Server) string {
	h := sha256.New()
	for _, f := range []string{sc.AuthHTTPSSLTrustedCertificate, sc.AuthHTTPSSLCertificate, sc.AuthHTTPSSLCertificateKey} {
		h.Write([]byte(f + "\x00"))
		if f != "" {
			b, _ := os.ReadFile(f) // already read by AuthHTTPConfig; an error there stopped the build
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

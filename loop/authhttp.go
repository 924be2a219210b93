package loop

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"

	"mailproxy/config"
	"mailproxy/loop/authhttp"
	"mailproxy/loop/mailtls"
	"mailproxy/loop/stats"
)

// authGroup returns the auth_http servers of sc as a Group, reusing the
// clients (their kept-alive connections and up/down state) that an
// earlier configuration made for the same URL and TLS material, and a new
// auth cache when auth_http_cache is on: a reload flushes the cache.
// Called by the goroutine running Run.
func (rt *runtimeState) authGroup(sc *config.Server) (*authhttp.Group, *authhttp.Cache, error) {
	tc, err := mailtls.AuthHTTPConfig(sc)
	if err != nil {
		return nil, nil, err
	}
	cs := make([]*authhttp.Client, 0, len(sc.AuthHTTPServers))
	for _, u := range sc.AuthHTTPServers {
		key := u.Addr + "|" + u.Host + "|" + u.URI
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

package loop

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/pem"
	"time"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/codec"
	"mailproxy/config"
	"mailproxy/loop/mailtls"
)

// Starting and finishing handshakes for a session: implicit TLS (listen
// ... ssl), STARTTLS/STLS from the client, and TLS towards the backend
// (proxy_ssl, proxy_starttls). Everything here runs on the session's
// loop, except the handshake goroutine, which touches only its tlsConn.

// tlsPost returns the handshake-phase writer for conn gc of s: a copy of
// the bytes is written on the loop, if gc is still the session's conn
// (a closed gnet.Conn may name another client's socket by then).
func (s *session) tlsPost(gc gnet.Conn, backend bool) func([]byte) {
	el := s.loop.el
	return func(b []byte) {
		cp := append([]byte(nil), b...)
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			s.onLoop("TLS handshake write", func() {
				if (!backend && s.client == gc) || (backend && s.backend == gc) {
					_, _ = gc.Write(cp)
				}
			})
			return nil
		}))
	}
}

// tlsGo runs t's handshake in its own goroutine and calls t.Done on the
// loop when it ends. Only once t.ShouldStart: a client that has sent no
// complete first record has no goroutine (mailtls/adapter.go).
func (s *session) tlsGo(t *mailtls.Conn) {
	if !t.ShouldStart() {
		return
	}
	el := s.loop.el
	go func() {
		err := tlsHandshake(t)
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			defer s.recoverPanic("TLS handshake end")
			t.Done(err)
			return nil
		}))
	}()
}

// tlsHandshake runs t's handshake in the handshake goroutine; a panic
// inside crypto/tls fails that handshake only. No deadline: the session's
// timer bounds the handshake and its close aborts it.
func tlsHandshake(t *mailtls.Conn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = workerPanic("TLS handshake", p)
		}
	}()
	return t.Handshake(context.Background())
}

// tlsStartClient begins the client handshake: at accept for implicit TLS,
// or after the STARTTLS reply. The goroutine starts when the ClientHello
// has come (tlsFeedClient).
func (s *session) tlsStartClient(starttls bool) {
	gc := s.client
	t := mailtls.NewServerConn(gc, s.tlsPost(gc, false), s.srv.tls.Config)
	t.Done = func(err error) { s.tlsClientDone(t, starttls, err) }
	s.tls = t
	s.tlsGo(t)
}

// tlsClientDone runs on the loop when the client handshake has ended.
func (s *session) tlsClientDone(t *mailtls.Conn, starttls bool, err error) {
	if s.closed || s.tls != t {
		return
	}
	if err != nil {
		s.srv.stats.TLSHandshake("fail")
		s.info("SSL handshake failed", "err", err.Error())
		s.close("ssl handshake failed")
		return
	}
	s.srv.stats.TLSHandshake("ok")
	t.ToLoop()
	cs := t.TC.ConnectionState()
	peer, res := s.srv.tls.Check(cs.PeerCertificates, time.Now())
	t.Peer = peer
	if res != mailtls.VerifyOK {
		s.info("client SSL certificate verify error", "verify", peer.Verify)
		s.write([]byte(s.srv.ops.certError + res.Text() + "\r\n"))
		s.close("ssl certificate")
		return
	}
	s.armTimeout()
	if starttls {
		// No new greeting; the pre-auth dialogue starts over (reference
		// §3, STARTTLS).
		s.tlsResetPreAuth()
	} else if g := s.srv.ops.greeting(s); len(g) > 0 {
		s.write(g)
	}
	// The client's first command may have come with its Finished and
	// sit inside crypto/tls already: always look (gnet-notes §4).
	if !s.closed && s.phase == PhasePreAuth {
		s.srv.ops.clientData(s)
	}
}

// tlsStarttlsOK reports whether STARTTLS/STLS is allowed now: starttls on
// or only, and not already TLS (a second STARTTLS is invalid).
func (s *session) tlsStarttlsOK() bool {
	return s.tls == nil && s.srv.tls != nil && s.srv.tls.Config != nil && s.cfg().Starttls != config.StarttlsOff
}

// tlsOnly reports whether authentication must wait for STARTTLS
// (starttls only, not TLS yet).
func (s *session) tlsOnly() bool {
	return s.tls == nil && s.cfg().Starttls == config.StarttlsOnly
}

// tlsStarttls switches to TLS after the protocol's go-ahead was written:
// whatever the client pipelined after the command is dropped (the
// CVE-2014-3556 class of injection), then the handshake starts.
func (s *session) tlsStarttls() {
	if s.client == nil || s.closed {
		return
	}
	_, _ = s.client.Discard(-1)
	s.tlsStartClient(true)
}

// tlsResetPreAuth forgets what the plaintext dialogue set up.
func (s *session) tlsResetPreAuth() {
	s.sasl = saslNone
	s.srv.ops.resetPreAuth(s)
}

// tlsStartBackend begins the handshake towards the backend (proxy_ssl at
// connect, proxy_starttls after the backend's go-ahead); then calls next
// on the loop to carry on with the login dialogue.
func (s *session) tlsStartBackend(next func()) {
	gc := s.backend
	cfg := s.srv.tls.Backend.Clone()
	cfg.ServerName = s.cfg().ProxySSLName
	if cfg.ServerName == "" {
		cfg.ServerName = tlsHostOf(s.upstream)
	}
	t := mailtls.NewClientConn(gc, s.tlsPost(gc, true), cfg)
	t.Done = func(err error) {
		if s.closed || s.btls != t {
			return
		}
		if err != nil {
			s.errorf("upstream SSL handshake failed", "err", err.Error())
			s.internalError("upstream ssl handshake")
			return
		}
		t.ToLoop()
		next()
		if !s.closed && s.phase == PhaseBackendLogin {
			s.srv.ops.backendData(s)
		}
	}
	s.btls = t
	s.tlsGo(t) // a backend handshake starts at once: we speak first
}

// TLS towards backends (a mailproxy extension; nginx has none, reference
// §5): proxy_ssl on speaks TLS from the first byte; proxy_starttls on
// upgrades the connection inside the login dialogue before any credential
// is sent (each protocol's backend file has its steps). The backend's
// certificate is verified against proxy_ssl_trusted_certificate (or the
// system roots) and proxy_ssl_name (default: the Auth-Server address)
// unless proxy_ssl_verify is off. Plaintext the backend sends after its
// go-ahead is dropped, as the client side does.

// tlsBackendOpened starts implicit TLS on a new backend connection.
// Called from the backend's OnOpen, after the protocol's loginDone.
func (s *session) tlsBackendOpened() {
	if s.tlsBackendImplicit() {
		s.tlsStartBackend(func() {})
	}
}

// tlsBackendUpgrade drops what the backend sent after its go-ahead and
// starts the handshake; next resumes the login dialogue over TLS.
func (s *session) tlsBackendUpgrade(next func()) {
	if s.backend != nil {
		_, _ = s.backend.Discard(-1)
	}
	s.tlsStartBackend(next)
}

// tlsBackendImplicit reports whether the backend speaks TLS from the
// first byte (proxy_ssl on).
func (s *session) tlsBackendImplicit() bool {
	return s.srv.tls != nil && s.srv.tls.Backend != nil && s.cfg().ProxySSL
}

// tlsBackendStarttls reports whether the login dialogue must upgrade the
// backend connection first (proxy_starttls on, not done yet).
func (s *session) tlsBackendStarttls() bool {
	return s.btls == nil && s.srv.tls != nil && s.srv.tls.Backend != nil && s.cfg().ProxyStarttls
}

// tlsHostOf is the host part of "host:port" (IPv6 without brackets).
func tlsHostOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			h := addr[:i]
			if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
				h = h[1 : len(h)-1]
			}
			return h
		}
	}
	return addr
}

// tlsAuthFields fills the Auth-SSL* headers of an auth_http request the
// way nginx formats them (reference §2.2).
func (s *session) tlsAuthFields(r *codec.AuthRequest) {
	t := s.tls
	if t == nil || !t.Ready {
		return
	}
	cs := t.TC.ConnectionState()
	r.SSL = true
	r.SSLProtocol = mailtls.VersionName(cs.Version)
	r.SSLCipher = mailtls.CipherName(cs.CipherSuite)
	r.SSLVerify = t.Peer.Verify
	leaf := t.Peer.Leaf
	if r.SSLVerify == "" || leaf == nil {
		return
	}
	r.SSLSubject = leaf.Subject.String()
	r.SSLIssuer = leaf.Issuer.String()
	r.SSLSerial = mailtls.Serial(leaf)
	sum := sha1.Sum(leaf.Raw)
	r.SSLFingerprint = hex.EncodeToString(sum[:])
	if s.srv.tls != nil && s.srv.tls.PassCert {
		r.SSLCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	}
}

// tlsWrite is write for a TLS client: bytes before the handshake ends
// (there should be none) are dropped.
func (s *session) tlsWrite(b []byte) {
	if s.tls.Ready {
		_ = s.tls.Write(b)
	}
}

// tlsReadFailed ends a session whose client TLS stream failed or ended.
func (s *session) tlsReadFailed(err error) {
	if s.closed {
		return
	}
	if mailtls.IsEOF(err) {
		s.close("client closed")
		return
	}
	s.info("SSL read failed", "err", err.Error())
	s.close("ssl error")
}

// tlsCloseSides sends close_notify where a handshake finished and stops
// any handshake still running. Called from session.close, on the loop;
// OnClose has already cleared the side it runs for, so no tls.Conn of a
// conn inside a failing Write is touched here.
func (s *session) tlsCloseSides() {
	if t := s.tls; t != nil {
		if !t.Ready && s.closeReason == "timeout" {
			// The session's timer is the handshake's deadline.
			s.srv.stats.TLSHandshake("timeout")
		}
		if s.client != nil {
			t.CloseNotify()
		}
		t.Abort()
	}
	if t := s.btls; t != nil {
		if s.backend != nil {
			t.CloseNotify()
		}
		t.Abort()
	}
}

// tlsFeedClient hands ciphertext to the client handshake, and starts its
// goroutine once the first record is whole. Called from OnTraffic.
func (s *session) tlsFeedClient(c gnet.Conn) {
	buf, _ := c.Next(-1)
	if err := s.tls.Feed(buf); err != nil {
		s.info("SSL handshake failed", "err", err.Error())
		s.close("ssl error")
		return
	}
	s.tlsGo(s.tls)
}

// tlsFeedBackend is tlsFeedClient for the backend side.
func (s *session) tlsFeedBackend(c gnet.Conn) {
	buf, _ := c.Next(-1)
	if err := s.btls.Feed(buf); err != nil {
		s.errorf("upstream SSL handshake failed", "err", err.Error())
		s.internalError("upstream ssl error")
	}
}

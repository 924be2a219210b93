package loop

import (
	"context"
	"errors"
	"time"

	"github.com/panjf2000/gnet/v2"

	"mailproxy/codec"
	"mailproxy/config"
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
			if s.closed {
				return nil
			}
			if (!backend && s.client == gc) || (backend && s.backend == gc) {
				_, _ = gc.Write(cp)
			}
			return nil
		}))
	}
}

// tlsGo runs t's handshake in its own goroutine and calls done on the loop
// when it ends. It reports false when no handshake slot is free.
func (s *session) tlsGo(t *tlsConn, done func(err error)) bool {
	select {
	case tlsSlots <- struct{}{}:
	default:
		return false
	}
	el := s.loop.el
	timeout := s.cfg().Timeout
	go func() {
		err := t.handshake(timeout)
		<-tlsSlots
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			done(err)
			return nil
		}))
	}()
	return true
}

// tlsStartClient begins the client handshake: at accept for implicit TLS,
// or after the STARTTLS reply.
func (s *session) tlsStartClient(starttls bool) {
	gc := s.client
	t := newTLSServerConn(gc, s.tlsPost(gc, false), s.srv.tls.cfg)
	s.tls = t
	if !s.tlsGo(t, func(err error) { s.tlsClientDone(t, starttls, err) }) {
		s.errorf("SSL handshake refused: " + errTLSBusy.Error())
		s.close("ssl busy")
	}
}

// tlsClientDone runs on the loop when the client handshake has ended.
func (s *session) tlsClientDone(t *tlsConn, starttls bool, err error) {
	if s.closed || s.tls != t {
		return
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			s.srv.stats.TLSHandshake("timeout")
		} else {
			s.srv.stats.TLSHandshake("fail")
		}
		s.info("SSL handshake failed", "err", err.Error())
		s.close("ssl handshake failed")
		return
	}
	s.srv.stats.TLSHandshake("ok")
	t.toLoop()
	cs := t.tc.ConnectionState()
	peer, res := s.srv.tls.check(cs.PeerCertificates, time.Now())
	t.peer = peer
	if res != tlsVerifyOK {
		s.info("client SSL certificate verify error", "verify", peer.verify)
		s.write(tlsCertError(s.cfg().Protocol.String(), res))
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
	return s.tls == nil && s.srv.tls != nil && s.srv.tls.cfg != nil && s.cfg().Starttls != config.StarttlsOff
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
	s.state = 0
	switch s.cfg().Protocol {
	case config.IMAP:
		if s.imap != nil {
			s.imap.parser = codec.IMAPParser{}
		}
	case config.SMTP:
		// nginx forgets the stored HELO, MAIL and RCPT.
		s.tag = s.tag[:0]
		s.reply = s.reply[:0]
	}
}

// tlsStartBackend begins the handshake towards the backend (proxy_ssl at
// connect, proxy_starttls after the backend's go-ahead); then calls next
// on the loop to carry on with the login dialogue.
func (s *session) tlsStartBackend(next func()) {
	gc := s.backend
	cfg := s.srv.tls.backend.Clone()
	cfg.ServerName = s.cfg().ProxySSLName
	if cfg.ServerName == "" {
		cfg.ServerName = tlsHostOf(s.upstream)
	}
	t := newTLSClientConn(gc, s.tlsPost(gc, true), cfg)
	s.btls = t
	ok := s.tlsGo(t, func(err error) {
		if s.closed || s.btls != t {
			return
		}
		if err != nil {
			s.errorf("upstream SSL handshake failed", "err", err.Error())
			s.internalError("upstream ssl handshake")
			return
		}
		t.toLoop()
		next()
		if !s.closed && s.phase == PhaseBackendLogin {
			s.srv.ops.backendData(s)
		}
	})
	if !ok {
		s.errorf("upstream SSL handshake refused: " + errTLSBusy.Error())
		s.internalError("upstream ssl busy")
	}
}

// tlsBackendImplicit reports whether the backend speaks TLS from the
// first byte (proxy_ssl on).
func (s *session) tlsBackendImplicit() bool {
	return s.srv.tls != nil && s.srv.tls.backend != nil && s.cfg().ProxySSL
}

// tlsBackendStarttls reports whether the login dialogue must upgrade the
// backend connection first (proxy_starttls on, not done yet).
func (s *session) tlsBackendStarttls() bool {
	return s.btls == nil && s.srv.tls != nil && s.srv.tls.backend != nil && s.cfg().ProxyStarttls
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

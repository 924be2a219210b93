package loop

import (
	"net"
	"net/netip"

	"mailproxy/codec"
	"mailproxy/config"
)

// PROXY protocol and realip (reference §6, §1.8, §2.2).
//
// In: on a listener with the proxy_protocol parameter the session starts in
// pre-auth waiting for the header (waitProxyHeader) and sends nothing; the client's raw bytes
// (before any TLS) go to codec.ParseProxy within `timeout`. A broken header
// is logged as nginx does and the connection closed without a reply. Once
// the header is read, a peer matching set_real_ip_from has its address and
// port replaced by the header's source (Client-IP, XCLIENT ADDR, logs, the
// outgoing PROXY header); the header's addresses go to auth_http as
// Proxy-Protocol-* whether trusted or not. Then the session goes on as if
// it had just been accepted.
//
// Out: with proxy_protocol on|v2 the backend's OnOpen returns the header as
// its first bytes, so it is written before the backend greeting is read.

// ppState is a session's incoming PROXY protocol state. It belongs to the
// session's loop.
type ppState struct {
	has bool // the header carried addresses (Proxy-Protocol-* headers)
	src netip.AddrPort
	dst netip.AddrPort
}

// ppExpected reports whether srv's listen socket has proxy_protocol.
func (srv *serverRT) ppExpected() bool {
	for i := range srv.cfg.Listens {
		if l := &srv.cfg.Listens[i]; l.Addr == srv.listen {
			return l.ProxyProtocol
		}
	}
	return false
}

// ppStart makes a new session wait for the PROXY header instead of
// greeting. Called from openClient, on the loop.
func (s *session) ppStart() {
	s.pp = &ppState{}
	// The protocols' onTimer hooks (smtp_greeting_delay) decline while
	// waiting, so the `timeout` closes the session silently, as nginx does.
	s.wait = waitProxyHeader
}

// ppClientData reads the PROXY header from the client's raw bytes. Called
// from OnTraffic while the session waits for it, on the loop.
func (s *session) ppClientData() {
	c := s.client
	if c == nil {
		return
	}
	buf, _ := c.Peek(-1)
	var h codec.ProxyHeader
	// NeedMore only below codec.ProxyMaxHeader bytes: the buffer is bounded.
	n, r := codec.ParseProxy(buf, &h)
	switch r {
	case codec.NeedMore:
		return
	case codec.Invalid:
		s.errorf(`broken header: "` + clientText(buf) + `" while reading PROXY protocol`)
		s.close("broken PROXY header")
		return
	}
	_, _ = c.Discard(n)
	s.ppApply(&h)
	s.wait = waitNone
	if !s.limitAdmit() { // the client address is final now (edge.go)
		return
	}
	s.armTimeout()
	s.ppResume()
}

// ppApply records the header's addresses and, for a trusted peer, makes
// the header's source the client.
func (s *session) ppApply(h *codec.ProxyHeader) {
	if !h.HasAddrs() {
		// v1 UNKNOWN, v2 LOCAL or AF_UNSPEC/AF_UNIX: the connection's own
		// addresses stand and no Proxy-Protocol-* headers are sent (nginx).
		return
	}
	p := s.pp
	p.has, p.src, p.dst = true, h.Src, h.Dst
	if !s.ppTrusted() {
		return
	}
	peer := s.clientAddr
	s.clientIP = h.Src.Addr().String()
	s.clientPort = int(h.Src.Port())
	s.clientAddr = h.Src.String()
	s.srv.log.Debug("realip: client "+s.clientAddr+" via "+peer, "conn", s.id)
}

// ppTrusted reports whether the connecting peer matches set_real_ip_from.
func (s *session) ppTrusted() bool {
	from := s.cfg().SetRealIPFrom
	if len(from) == 0 || s.client == nil {
		return false
	}
	var ip netip.Addr
	unix := false
	switch a := s.client.RemoteAddr().(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr().Unmap()
	case *net.UnixAddr:
		unix = true
	default:
		return false
	}
	for _, f := range from {
		if f == "unix:" {
			if unix {
				return true
			}
			continue
		}
		if unix {
			continue
		}
		if pf, err := netip.ParsePrefix(f); err == nil && pf.Contains(ip) {
			return true
		}
	}
	return false
}

// ppResume goes on as a connection without a PROXY header would have from
// accept: the TLS handshake on an ssl listener, else the greeting; then
// whatever the client already sent after the header (gnet does not call
// OnTraffic again for bytes it holds).
func (s *session) ppResume() {
	if t := s.srv.tls; t != nil && t.Implicit {
		s.tlsStartClient(false)
		if !s.closed && s.client != nil && s.client.InboundBuffered() > 0 {
			s.tlsFeedClient(s.client)
		}
		return
	}
	if g := s.srv.ops.greeting(s); len(g) > 0 {
		s.write(g)
	}
	if s.closed || s.client == nil || s.client.InboundBuffered() == 0 {
		return
	}
	s.srv.ops.clientData(s)
}

// ppAuthRequest adds the Proxy-Protocol-* fields to an auth_http request
// (reference §2.2: sent when a header with addresses was received, trusted
// or not). Called on the loop.
func (s *session) ppAuthRequest(r *codec.AuthRequest) {
	if s.pp == nil || !s.pp.has {
		return
	}
	r.HasProxy = true
	r.ProxyAddr = s.pp.src.Addr().String()
	r.ProxyPort = int(s.pp.src.Port())
	r.ProxyServerAddr = s.pp.dst.Addr().String()
	r.ProxyServerPort = int(s.pp.dst.Port())
}

// ppBackendHeader returns the PROXY header to send first on a new backend
// connection (proxy_protocol on|v2), or nil: the client as known after
// realip, and the address and port the client connected to. Called from
// the backend's OnOpen, on the loop.
func (s *session) ppBackendHeader() []byte {
	v := s.cfg().ProxyProtocolOut
	if v == config.ProxyProtocolOff || s.client == nil {
		return nil
	}
	var src, dst netip.AddrPort
	if ip, err := netip.ParseAddr(s.clientIP); err == nil {
		src = netip.AddrPortFrom(ip, uint16(s.clientPort))
	}
	if la, ok := s.client.LocalAddr().(*net.TCPAddr); ok {
		dst = la.AddrPort()
	}
	if v == config.ProxyProtocolV2 {
		return codec.AppendProxyV2(make([]byte, 0, 52), src, dst)
	}
	return codec.AppendProxyV1(make([]byte, 0, codec.ProxyV1MaxLen), src, dst)
}

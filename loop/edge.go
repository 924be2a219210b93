package loop

import (
	"net"
	"net/netip"
	"strconv"
	"time"

	"mailproxy/config"
	"mailproxy/loop/limits"
	"mailproxy/loop/stats"
)

// Edge defence from the session's side (loop/limits does the counting).
// The checks run where the client address is final: at open, or after the
// PROXY header on a proxy_protocol listener. A refused client gets the
// protocol's temporary-failure line (protoOps.refuse) saying why, and is
// closed before any auth_http call. Banned logins are refused in
// startAuth without an auth_http call, after the tarpit delay on the
// session's own timer. All of this runs on the session's loop.

// refuseText is what the refusal line says, by reason.
var refuseText = [limits.NumReasons]string{
	limits.Access:  "access denied",
	limits.ConnCap: "too many connections from your address",
	limits.Rate:    "too many new connections from your address, try again later",
	limits.Preauth: "too many connections waiting to log in, try again later",
}

// bannedText is the auth-failure text of an attempt refused by a ban: the
// same as any failure, so that the ban tells an attacker nothing.
const bannedText = "authentication failed"

// preauthKey names a server's pre-auth count: its protocol and listen
// addresses, so that a reload that keeps them keeps the count.
func preauthKey(sc *config.Server) string {
	k := sc.Protocol.String()
	for _, l := range sc.Listens {
		k += " " + l.Addr
	}
	return k
}

// limitAddr is the client's address for the limits, and whether the
// client came over a UNIX-domain socket.
func (s *session) limitAddr() (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s.clientIP); err == nil {
		return a.Unmap(), false
	}
	if s.client != nil {
		_, unix := s.client.RemoteAddr().(*net.UnixAddr)
		return netip.Addr{}, unix
	}
	return netip.Addr{}, false
}

// limitAdmit applies the access list and the connection caps. It reports
// false when it refused and closed the session.
func (s *session) limitAdmit() bool {
	pol := s.srv.lim
	if pol == nil {
		return true
	}
	l := s.srv.rt.limits
	a, unix := s.limitAddr()
	h, why := l.Admit(pol, a, unix, s.srv.pre, time.Now().UnixNano())
	if why == limits.None {
		s.lim = h
		return true
	}
	stats.LimitRefused(why.String())
	if ok, n := l.LogRefusal(why, time.Now().UnixNano()); ok {
		kv := []any{"conn", s.id, "client", s.clientIP, "server", s.srv.listen, "reason", why.String()}
		if n > 0 {
			kv = append(kv, "suppressed", n)
		}
		s.srv.log.Error("limits: connection refused", kv...)
	}
	b := append(s.loop.wbuf[:0], s.srv.ops.refuse...)
	b = append(b, refuseText[why]...)
	b = append(b, "\r\n"...)
	s.loop.wbuf = b
	s.write(b)
	s.close("refused: " + why.String())
	return false
}

// limitLeavePreauth takes the session out of the pre-auth caps.
func (s *session) limitLeavePreauth() {
	if s.lim != nil {
		s.srv.rt.limits.LeavePreauth(s.lim)
	}
}

// limitRelease gives back what the session holds; from finish.
func (s *session) limitRelease() {
	if s.lim != nil {
		s.srv.rt.limits.Release(s.lim)
		s.lim = nil
	}
}

// limitBudgeted reports whether this attempt counts against the failure
// budgets: SMTP's smtp_auth none carries no credentials.
func (s *session) limitBudgeted() bool {
	return s.srv.lim.Budgets() && s.method != "none"
}

// limitAuthRefused refuses an attempt whose address or login is banned:
// no auth_http call; the failure reply comes after the tarpit delay, and
// the client may try again (as after Auth-Wait). It reports whether it
// refused. Called from startAuth.
func (s *session) limitAuthRefused() bool {
	if !s.limitBudgeted() {
		return false
	}
	l := s.srv.rt.limits
	a, _ := s.limitAddr()
	now := time.Now()
	ban, delay := l.AuthCheck(s.srv.lim, a, s.login, now.UnixNano())
	if ban == limits.BanNone {
		return false
	}
	stats.LimitRefused(limits.Budget.String())
	if ok, n := l.LogRefusal(limits.Budget, now.UnixNano()); ok {
		kv := []any{"conn", s.id, "client", s.clientIP, "server", s.srv.listen, "login", string(s.login), "reason", "budget", "ban", ban.String()}
		if n > 0 {
			kv = append(kv, "suppressed", n)
		}
		s.srv.log.Error("limits: login refused", kv...)
	}
	s.authResult = "banned"
	s.failText = bannedText
	s.failCode = ""
	s.wait = waitAuthFail
	s.loop.arm(s, now.Add(delay).UnixNano())
	return true
}

// limitAuthResult records an auth_http answer: a success forgives the
// address and trusts it for the login; a failure counts, and may start a
// ban, logged once per ban.
func (s *session) limitAuthResult(ok bool) {
	if !s.limitBudgeted() {
		return
	}
	l := s.srv.rt.limits
	a, _ := s.limitAddr()
	now := time.Now().UnixNano()
	if ok {
		l.AuthOK(s.srv.lim, a, s.login, now)
		return
	}
	ipBan, loginBan := l.AuthFailed(s.srv.lim, a, s.login, now)
	for _, b := range [2]struct {
		on    bool
		login bool
	}{{ipBan, false}, {loginBan, true}} {
		if !b.on {
			continue
		}
		stats.LimitBan(b.login)
		if ok, n := l.LogBan(now); ok {
			msg := "limits: address banned"
			if b.login {
				msg = "limits: login banned"
			}
			kv := []any{"conn", s.id, "client", s.clientIP, "server", s.srv.listen, "login", string(s.login),
				"for", s.srv.lim.Fail.Ban.String()}
			if n > 0 {
				kv = append(kv, "suppressed", strconv.FormatUint(n, 10))
			}
			s.srv.log.Error(msg, kv...)
		}
	}
}

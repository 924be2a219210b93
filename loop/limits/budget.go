package limits

import (
	"net/netip"
	"time"
)

// Failure budgets (limit_auth_fail). A failed login (an auth_http answer
// that is not OK, Auth-Wait ones included) counts against the client
// address (prefix) and against the login name, each in its own fixed
// window; the failure that uses up a budget bans that address or login
// for ban=. While banned, an attempt is refused without an auth_http call
// and answered after a tarpit delay that doubles with each refused attempt
// (1 s, 2 s, 4 s, ... up to tarpit=), as Dovecot's auth penalty grows.
//
// Lock-out protection: a per-login ban does not apply to an address that
// has logged in successfully as that login before (the trusted table), so
// an attacker failing on a user's login from elsewhere bans the login for
// new addresses only; the user's own addresses keep working. A success
// clears the address's failure count. limit_exempt addresses have no
// address budget (the login budget still counts them).

// Ban names what a ban is on.
type Ban uint8

// What is banned.
const (
	BanNone Ban = iota
	BanIP
	BanLogin
)

func (b Ban) String() string {
	switch b {
	case BanIP:
		return "ip"
	case BanLogin:
		return "login"
	}
	return ""
}

// tarpitDelay is the delay before answering the n-th refused attempt.
func tarpitDelay(n uint32, limit time.Duration) time.Duration {
	if n == 0 || limit <= 0 {
		return 0
	}
	d := time.Second << min(n-1, 30)
	return min(d, limit)
}

// addrKeyFor is the budget key of a, and whether a has an address budget.
func (p *Policy) addrKeyFor(a netip.Addr) (Key, bool) {
	if !a.IsValid() || p.Fail.IP == 0 || p.IsExempt(a) {
		return Key{}, false
	}
	return AddrKey(a, p.V6Prefix), true
}

// AuthCheck is asked before an auth_http call for login from a: BanNone
// lets the call go; otherwise the attempt is refused and answered after
// delay. now is unix nanos.
func (l *Limiter) AuthCheck(p *Policy, a netip.Addr, login []byte, now int64) (Ban, time.Duration) {
	if !p.Budgets() {
		return BanNone, 0
	}
	var delay time.Duration
	if ak, ok := p.addrKeyFor(a); ok {
		banned := false
		l.hot.with(ak, false, func(e *entry, _ bool) {
			switch {
			case e.banUntil > now:
				banned = true
				e.penalty++
				delay = tarpitDelay(e.penalty, p.Fail.Tarpit)
			case e.banUntil != 0:
				e.banUntil, e.penalty = 0, 0 // the ban passed
			}
		})
		if banned {
			return BanIP, delay
		}
	}
	if p.Fail.Login == 0 || len(login) == 0 {
		return BanNone, 0
	}
	lk := LoginKey(login)
	banned := false
	l.hot.with(lk, false, func(e *entry, _ bool) {
		switch {
		case e.banUntil > now:
			banned = true
		case e.banUntil != 0:
			e.banUntil, e.penalty = 0, 0
		}
	})
	if !banned || (a.IsValid() && l.trusted.with(pairKey(lk, AddrKey(a, p.V6Prefix)), false, func(*entry, bool) {})) {
		return BanNone, 0
	}
	l.hot.with(lk, false, func(e *entry, _ bool) {
		e.penalty++
		delay = tarpitDelay(e.penalty, p.Fail.Tarpit)
	})
	return BanLogin, delay
}

// AuthFailed counts a failed login. It reports the bans this failure
// started (for the ban log line): ip, login, both or neither.
func (l *Limiter) AuthFailed(p *Policy, a netip.Addr, login []byte, now int64) (ipBan, loginBan bool) {
	if !p.Budgets() {
		return false, false
	}
	st := l.store.Load()
	if ak, ok := p.addrKeyFor(a); ok {
		ipBan = l.count(ak, p.Fail.IP, p.Fail.IPPeriod, p.Fail.Ban, now)
		if st != nil {
			st.enqueue(storeJob{kind: BanIP, key: ak, n: p.Fail.IP, window: p.Fail.IPPeriod, ban: p.Fail.Ban})
		}
	}
	if p.Fail.Login > 0 && len(login) > 0 {
		lk := LoginKey(login)
		loginBan = l.count(lk, p.Fail.Login, p.Fail.LoginPeriod, p.Fail.Ban, now)
		if st != nil {
			st.enqueue(storeJob{kind: BanLogin, key: lk, n: p.Fail.Login, window: p.Fail.LoginPeriod, ban: p.Fail.Ban})
		}
	}
	return ipBan, loginBan
}

// count adds one failure to k's window and bans k when it reaches n.
func (l *Limiter) count(k Key, n int, win, ban time.Duration, now int64) bool {
	started := false
	l.hot.with(k, true, func(e *entry, _ bool) {
		if e.banUntil > now {
			return // already banned (an attempt that was in flight)
		}
		if e.winStart == 0 || now-e.winStart >= int64(win) {
			e.winStart, e.fails = now, 0
		}
		e.fails++
		if int(e.fails) >= n {
			e.banUntil = now + int64(ban)
			e.fails, e.winStart, e.penalty = 0, 0, 0
			started = true
		}
	})
	return started
}

// AuthOK records a successful login: the address's failures are forgiven
// and the address is trusted for this login from now on.
func (l *Limiter) AuthOK(p *Policy, a netip.Addr, login []byte, now int64) {
	if !p.Budgets() || !a.IsValid() {
		return
	}
	if ak, ok := p.addrKeyFor(a); ok {
		l.hot.with(ak, false, func(e *entry, _ bool) {
			e.fails, e.winStart = 0, 0
		})
		if st := l.store.Load(); st != nil {
			st.enqueue(storeJob{kind: BanIP, key: ak, ok: true})
		}
	}
	if p.Fail.Login > 0 && len(login) > 0 {
		l.trusted.with(pairKey(LoginKey(login), AddrKey(a, p.V6Prefix)), true, func(e *entry, _ bool) {
			e.last = now
		})
	}
}

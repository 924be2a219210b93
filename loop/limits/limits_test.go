package limits

import (
	"net/netip"
	"testing"
	"time"

	"mailproxy/config"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func rule(allow bool, v string) config.AccessRule {
	if v == "all" {
		return config.AccessRule{Allow: allow, All: true}
	}
	return config.AccessRule{Allow: allow, Prefix: netip.MustParsePrefix(v)}
}

func TestAccessFirstMatchWins(t *testing.T) {
	p := &Policy{Access: []config.AccessRule{rule(false, "127.0.0.3/32"), rule(true, "127.0.0.0/8"), rule(true, "2001:db8::/32"), rule(false, "all")}}
	f := func(a string, want bool) {
		t.Helper()
		if got := p.Allowed(ip(a), false); got != want {
			t.Errorf("%s: allowed %v, want %v", a, got, want)
		}
	}
	f("127.0.0.2", true)
	f("127.0.0.3", false)
	f("::ffff:127.0.0.2", true) // a v4-mapped peer is its IPv4 address
	f("2001:db8::1", true)
	f("192.0.2.1", false)
	if !(&Policy{}).Allowed(ip("192.0.2.1"), false) {
		t.Error("no list must allow")
	}
}

func TestAdmitConnCapReleased(t *testing.T) {
	l := New(1000)
	p := &Policy{ConnPerIP: 2, V6Prefix: 64, Burst: 1}
	h1, r1 := l.Admit(p, ip("127.0.0.2"), false, nil, 1)
	h2, r2 := l.Admit(p, ip("127.0.0.2"), false, nil, 1)
	_, r3 := l.Admit(p, ip("127.0.0.2"), false, nil, 1)
	_, r4 := l.Admit(p, ip("127.0.0.3"), false, nil, 1)
	if r1 != None || r2 != None || r3 != ConnCap || r4 != None {
		t.Fatalf("got %v %v %v %v", r1, r2, r3, r4)
	}
	l.Release(h1)
	l.Release(h1) // twice is harmless
	if _, r := l.Admit(p, ip("127.0.0.2"), false, nil, 1); r != None {
		t.Fatalf("after release: %v", r)
	}
	l.Release(h2)
	// IPv6 addresses of one /64 share a count.
	_, a := l.Admit(p, ip("2001:db8:0:1::1"), false, nil, 1)
	_, b := l.Admit(p, ip("2001:db8:0:1::2"), false, nil, 1)
	_, c := l.Admit(p, ip("2001:db8:0:1:ffff::3"), false, nil, 1)
	_, d := l.Admit(p, ip("2001:db8:0:2::1"), false, nil, 1)
	if a != None || b != None || c != ConnCap || d != None {
		t.Fatalf("v6: %v %v %v %v", a, b, c, d)
	}
}

func TestAdmitRate(t *testing.T) {
	l := New(1000)
	p := &Policy{Rate: 1, Burst: 2, V6Prefix: 64}
	now := int64(time.Hour)
	var got []Reason
	for range 3 {
		_, r := l.Admit(p, ip("127.0.0.2"), false, nil, now)
		got = append(got, r)
	}
	if got[0] != None || got[1] != None || got[2] != Rate {
		t.Fatalf("burst: %v", got)
	}
	if _, r := l.Admit(p, ip("127.0.0.2"), false, nil, now+int64(time.Second)); r != None {
		t.Fatalf("a second later: %v", r)
	}
	// Exempt addresses have no per-address limits.
	p.Exempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for range 5 {
		if _, r := l.Admit(p, ip("127.0.0.2"), false, nil, now); r != None {
			t.Fatalf("exempt: %v", r)
		}
	}
}

func TestAdmitPreauth(t *testing.T) {
	l := New(1000)
	l.Configure(config.MailLimits{Preauth: 3}, nil)
	c := l.Counter("imap 127.0.0.1:143")
	if l.Counter("imap 127.0.0.1:143") != c {
		t.Fatal("counter not kept by name")
	}
	p := &Policy{Preauth: 2, V6Prefix: 64}
	h1, _ := l.Admit(p, ip("127.0.0.2"), false, c, 1)
	h2, _ := l.Admit(p, ip("127.0.0.3"), false, c, 1)
	if _, r := l.Admit(p, ip("127.0.0.4"), false, c, 1); r != Preauth {
		t.Fatalf("server cap: %v", r)
	}
	l.LeavePreauth(h1) // entered auth
	h3, r := l.Admit(p, ip("127.0.0.4"), false, c, 1)
	if r != None {
		t.Fatalf("after leaving: %v", r)
	}
	// Another server, no cap of its own: the total of 3 applies.
	q := &Policy{V6Prefix: 64}
	h4, r := l.Admit(q, ip("127.0.0.5"), false, nil, 1)
	if r != None {
		t.Fatalf("total: %v", r)
	}
	if _, r := l.Admit(q, ip("127.0.0.6"), false, nil, 1); r != Preauth {
		t.Fatalf("total cap: %v", r)
	}
	for _, h := range []*Hold{h1, h2, h3, h4} {
		l.Release(h)
	}
	if c.Load() != 0 || l.PreauthAll() != 0 {
		t.Fatalf("counts left: %d %d", c.Load(), l.PreauthAll())
	}
}

func failPolicy() *Policy {
	return &Policy{V6Prefix: 64, Fail: config.AuthFailLimit{IP: 3, IPPeriod: time.Minute, Login: 5, LoginPeriod: time.Hour, Ban: 10 * time.Second, Tarpit: 15 * time.Second}}
}

func TestBudgetIPBanTarpitAndExpiry(t *testing.T) {
	l := New(1000)
	p := failPolicy()
	now := int64(time.Hour)
	a := ip("127.0.0.2")
	for i := range 3 {
		if b, _ := l.AuthCheck(p, a, []byte("u"+string(rune('a'+i))), now); b != BanNone {
			t.Fatalf("attempt %d refused: %v", i, b)
		}
		ipBan, _ := l.AuthFailed(p, a, []byte("u"+string(rune('a'+i))), now)
		if ipBan != (i == 2) {
			t.Fatalf("failure %d: ban %v", i, ipBan)
		}
	}
	var delays []time.Duration
	for range 6 {
		b, d := l.AuthCheck(p, a, []byte("x"), now)
		if b != BanIP {
			t.Fatalf("banned address let through: %v", b)
		}
		delays = append(delays, d)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second}
	for i := range want {
		if delays[i] != want[i] {
			t.Fatalf("tarpit delays %v, want %v", delays, want)
		}
	}
	// Another address is not affected.
	if b, _ := l.AuthCheck(p, ip("127.0.0.3"), []byte("x"), now); b != BanNone {
		t.Fatalf("other address: %v", b)
	}
	// The ban passes; the budget starts over.
	now += int64(10 * time.Second)
	if b, _ := l.AuthCheck(p, a, []byte("x"), now); b != BanNone {
		t.Fatalf("after the ban: %v", b)
	}
	if ipBan, _ := l.AuthFailed(p, a, []byte("x"), now); ipBan {
		t.Fatal("one failure after the ban banned again")
	}
}

func TestBudgetSuccessClearsAddress(t *testing.T) {
	l := New(1000)
	p := failPolicy()
	a := ip("127.0.0.2")
	l.AuthFailed(p, a, []byte("u"), 1)
	l.AuthFailed(p, a, []byte("u"), 1)
	l.AuthOK(p, a, []byte("u"), 1)
	l.AuthFailed(p, a, []byte("u"), 1)
	if ipBan, _ := l.AuthFailed(p, a, []byte("u"), 1); ipBan {
		t.Fatal("a success did not clear the address's count")
	}
}

// TestBudgetLoginBanSparesKnownAddresses: failing on a user's login from
// many addresses bans the login for new addresses, not for the one the
// user logged in from before.
func TestBudgetLoginBanSparesKnownAddresses(t *testing.T) {
	l := New(1000)
	p := failPolicy()
	home := ip("127.0.0.9")
	l.AuthOK(p, home, []byte("Alice"), 1)
	var loginBan bool
	for i := range 5 {
		_, loginBan = l.AuthFailed(p, netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), []byte("ALICE"), 2)
	}
	if !loginBan {
		t.Fatal("5 failures on one login from 5 addresses did not ban it")
	}
	if b, _ := l.AuthCheck(p, ip("10.0.1.1"), []byte("alice"), 3); b != BanLogin {
		t.Fatalf("new address: %v", b)
	}
	if b, _ := l.AuthCheck(p, home, []byte("alice"), 3); b != BanNone {
		t.Fatalf("the user's own address: %v", b)
	}
	if b, _ := l.AuthCheck(p, ip("10.0.1.1"), []byte("bob"), 3); b != BanNone {
		t.Fatalf("another login: %v", b)
	}
}

func TestBudgetExemptHasNoAddressBudget(t *testing.T) {
	l := New(1000)
	p := failPolicy()
	p.Exempt = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	for i := range 10 {
		if ipBan, _ := l.AuthFailed(p, ip("192.0.2.7"), []byte{byte('a' + i)}, 1); ipBan {
			t.Fatal("exempt address banned")
		}
	}
	if b, _ := l.AuthCheck(p, ip("192.0.2.7"), []byte("z"), 1); b != BanNone {
		t.Fatalf("exempt: %v", b)
	}
}

// TestTableBoundedUnderFlood: a million distinct addresses cannot grow the
// table past its bound.
func TestTableBoundedUnderFlood(t *testing.T) {
	const size = 10000
	l := New(size)
	p := failPolicy()
	p.Rate, p.Burst = 1, 1
	for i := range 1000000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Admit(p, a, false, nil, int64(i))
		l.AuthFailed(p, a, nil, int64(i))
	}
	if n := l.hot.n.Load(); n > size {
		t.Fatalf("%d keys tracked, bound %d", n, size)
	}
	var held int
	for i := range l.hot.shards {
		held += len(l.hot.shards[i].ents)
	}
	if held > size {
		t.Fatalf("%d slots allocated, bound %d", held, size)
	}
	// A smaller bound on reload shrinks as shards are used.
	l.Configure(config.MailLimits{TableSize: size / 2}, nil)
	for i := range 100000 {
		l.AuthFailed(p, netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), nil, 1)
	}
	if n := l.hot.n.Load(); n > size/2 {
		t.Fatalf("after shrinking: %d keys, bound %d", n, size/2)
	}
}

func TestLogThrottle(t *testing.T) {
	l := New(10)
	ok1, _ := l.LogRefusal(Access, 1)
	ok2, _ := l.LogRefusal(Access, 2)
	ok3, _ := l.LogRefusal(ConnCap, 2)
	ok4, n := l.LogRefusal(Access, 1+int64(time.Second))
	if !ok1 || ok2 || !ok3 || !ok4 || n != 1 {
		t.Fatalf("got %v %v %v %v %d", ok1, ok2, ok3, ok4, n)
	}
	written := 0
	for range 1000 {
		if ok, _ := l.LogBan(1); ok {
			written++
		}
	}
	if written != banLogBurst {
		t.Fatalf("ban lines written %d, want %d", written, banLogBurst)
	}
}

// TestConcurrentLoops: several loops admitting, failing and releasing at
// once leave every count at zero (run with -race).
func TestConcurrentLoops(t *testing.T) {
	l := New(1000)
	l.Configure(config.MailLimits{Preauth: 1 << 20}, nil)
	p := failPolicy()
	p.ConnPerIP, p.Preauth = 1<<20, 1<<20
	c := l.Counter("x")
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				a := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i)})
				h, _ := l.Admit(p, a, false, c, int64(i))
				l.AuthCheck(p, a, []byte("u"), int64(i))
				l.AuthFailed(p, a, []byte("u"), int64(i))
				l.LeavePreauth(h)
				l.Release(h)
			}
		}()
	}
	for range 4 {
		<-done
	}
	if c.Load() != 0 || l.PreauthAll() != 0 {
		t.Fatalf("pre-auth counts left: %d %d", c.Load(), l.PreauthAll())
	}
	for i := range l.conns.shards {
		if n := len(l.conns.shards[i].m); n != 0 {
			t.Fatalf("shard %d holds %d connection entries", i, n)
		}
	}
}

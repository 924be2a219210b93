package config

import (
	"testing"
	"time"
)

func TestValTime(t *testing.T) {
	f := func(in string, isSec bool, want time.Duration, wantOK bool) {
		t.Helper()
		got, ok := valTime(in, isSec)
		if ok != wantOK || got != want {
			t.Fatalf("valTime(%q, %v) = %v, %v; want %v, %v", in, isSec, got, ok, want, wantOK)
		}
	}
	f("60s", false, 60*time.Second, true)
	f("60", false, 60*time.Second, true)
	f("5m", false, 5*time.Minute, true)
	f("1h30m", false, 90*time.Minute, true)
	f("1h 30m", false, 90*time.Minute, true)
	f("1s 30", false, 31*time.Second, true)
	f("500ms", false, 500*time.Millisecond, true)
	f("1s500ms", false, 1500*time.Millisecond, true)
	f("2d", false, 48*time.Hour, true)
	f("1w", false, 7*24*time.Hour, true)
	f("24h", false, 24*time.Hour, true)
	f("0", false, 0, true)
	f("1y", false, 0, false)
	f("1M", false, 0, false)
	f("1y", true, 365*24*time.Hour, true)
	f("1M", true, 30*24*time.Hour, true)
	f("1ms", true, 0, false)
	f("30m1h", false, 0, false)
	f("1s1s", false, 0, false)
	f("", false, 0, false)
	f("s", false, 0, false)
	f("abc", false, 0, false)
	f("-1", false, 0, false)
	f("1.5s", false, 0, false)
	f("99999999999999999999", false, 0, false)
	f("9999999999999d", false, 0, false)
}

func TestValSize(t *testing.T) {
	f := func(in string, want int, wantOK bool) {
		t.Helper()
		got, ok := valSize(in)
		if ok != wantOK || got != want {
			t.Fatalf("valSize(%q) = %v, %v; want %v, %v", in, got, ok, want, wantOK)
		}
	}
	f("4k", 4096, true)
	f("4K", 4096, true)
	f("1m", 1<<20, true)
	f("1M", 1<<20, true)
	f("100", 100, true)
	f("0", 0, true)
	f("1g", 0, false)
	f("k", 0, false)
	f("", 0, false)
	f("4 k", 0, false)
	f("-4k", 0, false)
	f("99999999999999999999k", 0, false)
}

func TestValAtoiFlag(t *testing.T) {
	f := func(in string, want int, wantOK bool) {
		t.Helper()
		got, ok := valAtoi(in)
		if ok != wantOK || got != want {
			t.Fatalf("valAtoi(%q) = %v, %v; want %v, %v", in, got, ok, want, wantOK)
		}
	}
	f("5", 5, true)
	f("007", 7, true)
	f("", 0, false)
	f("+5", 0, false)
	f("5x", 0, false)
	f("99999999999999999999", 0, false)
	g := func(in string, want, wantOK bool) {
		t.Helper()
		got, ok := valFlag(in)
		if ok != wantOK || got != want {
			t.Fatalf("valFlag(%q) = %v, %v", in, got, ok)
		}
	}
	g("on", true, true)
	g("ON", true, true)
	g("Off", false, true)
	g("yes", false, false)
	g("", false, false)
}

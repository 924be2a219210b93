package limits

import (
	"encoding/hex"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"
)

// TestStoreMergeBans: a ban heard on the channel bans locally; payloads
// that do not parse change nothing.
func TestStoreMergeBans(t *testing.T) {
	l := New(100)
	s := &Store{l: l, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	p := failPolicy()
	k := AddrKey(ip("192.0.2.7"), 64)
	until := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	for _, bad := range []string{"", "ip", "ip zz " + until, "ip " + hex.EncodeToString(k[:4]) + " " + until, "net " + hex.EncodeToString(k[:]) + " " + until, "ip " + hex.EncodeToString(k[:]) + " soon"} {
		s.merge(bad)
	}
	now := time.Now().UnixNano()
	if b, _ := l.AuthCheck(p, ip("192.0.2.7"), []byte("u"), now); b != BanNone {
		t.Fatalf("a bad payload banned: %v", b)
	}
	s.merge("ip " + hex.EncodeToString(k[:]) + " " + until)
	if b, _ := l.AuthCheck(p, ip("192.0.2.7"), []byte("u"), now); b != BanIP {
		t.Fatalf("a published ban not merged: %v", b)
	}
	lk := LoginKey([]byte("Alice"))
	s.merge("login " + hex.EncodeToString(lk[:]) + " " + until)
	if b, _ := l.AuthCheck(p, ip("192.0.2.8"), []byte("alice"), now); b != BanLogin {
		t.Fatalf("a published login ban not merged: %v", b)
	}
}

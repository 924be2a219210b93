package limits

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
)

// Key names one tracked thing: a client address (prefix), a login name, or
// an address+login pair.
type Key [16]byte

// AddrKey is the key of client address a: IPv4 as itself (/32), IPv6
// masked to v6bits (0 means 64).
func AddrKey(a netip.Addr, v6bits int) Key {
	a = a.Unmap()
	if a.Is6() {
		if v6bits <= 0 || v6bits > 128 {
			v6bits = 64
		}
		if p, err := a.Prefix(v6bits); err == nil {
			a = p.Addr()
		}
	}
	return Key(a.As16())
}

// Addr is the address (prefix start) a key made by AddrKey names, for logs
// and for the store.
func (k Key) Addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

// foldLogin appends login in ASCII lower case: a login's budget does not
// change with the case the client typed.
func foldLogin(dst, login []byte) []byte {
	for _, c := range login {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// LoginKey is the key of a login name (case-folded).
func LoginKey(login []byte) Key {
	var buf [128]byte
	b := append(buf[:0], "login\x00"...)
	b = foldLogin(b, login)
	sum := sha256.Sum256(b)
	return Key(sum[:16])
}

// pairKey is the key of a login that succeeded from an address.
func pairKey(login Key, addr Key) Key {
	var buf [5 + 32]byte
	b := append(buf[:0], "pair\x00"...)
	b = append(b, login[:]...)
	b = append(b, addr[:]...)
	sum := sha256.Sum256(b)
	return Key(sum[:16])
}

// shardOf spreads keys over n (a power of two) shards.
func (k Key) shardOf(n int) int {
	x := binary.LittleEndian.Uint64(k[:8]) ^ binary.LittleEndian.Uint64(k[8:])
	x *= 0x9E3779B97F4A7C15
	return int(x>>32) & (n - 1)
}

package loop

import (
	"bytes"
	"testing"
)

func TestAuthHeaderEnd(t *testing.T) {
	f := func(in string, want int) {
		t.Helper()
		if got := authHeaderEnd([]byte(in)); got != want {
			t.Errorf("authHeaderEnd(%q) = %d, want %d", in, got, want)
		}
	}
	f("", -1)
	f("HTTP/1.1 200 OK\r\n", -1)
	f("HTTP/1.1 200 OK\r\nAuth-Status: OK\r\n", -1)
	f("HTTP/1.1 200 OK\r\nAuth-Status: OK\r\n\r\n", 36)
	f("HTTP/1.1 200 OK\r\nAuth-Status: OK\r\n\r\nbody", 36)
	f("HTTP/1.0 200 OK\nAuth-Status: OK\n\n", 33)
	f("Auth-Status: OK\r\n\r\n", 19)
	f("\r\n", 2)
	f("\n", 1)
	f("HTTP/1.1 200 OK\r\nX: \r\r\n\r\n", 25)
}

func TestAuthKeepAlive(t *testing.T) {
	f := func(in string, clen int, keep bool) {
		t.Helper()
		gotLen, gotKeep := authKeepAlive([]byte(in))
		if gotKeep != keep || (keep && gotLen != clen) {
			t.Errorf("authKeepAlive(%q) = %d, %v; want %d, %v", in, gotLen, gotKeep, clen, keep)
		}
	}
	f("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, true)
	f("HTTP/1.1 200 OK\r\ncontent-length:  12 \r\nAuth-Status: OK\r\n\r\n", 12, true)
	f("HTTP/1.1 200 OK\r\nAuth-Status: OK\r\n\r\n", 0, false)   // body until close
	f("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, false) // HTTP/1.0
	f("Auth-Status: OK\r\nContent-Length: 0\r\n\r\n", 0, false) // no status line
	f("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Close\r\n\r\n", 0, false)
	f("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, false)
	f("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 0, false)
	f("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, false)
	f("HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", 0, false) // over authMaxBody
	f("HTTP/1.1 200 OK\nContent-Length: 3\nConnection: keep-alive\n\n", 3, true)
}

func TestAuthLoopTarget(t *testing.T) {
	f := func(addr string, ok bool, network string) {
		t.Helper()
		got := authLoopTargetOf(addr)
		if got.ok != ok || (ok && got.network != network) {
			t.Errorf("authLoopTargetOf(%q) = %v %q, want %v %q", addr, got.ok, got.network, ok, network)
		}
	}
	f("127.0.0.1:9000", true, "tcp")
	f("[::1]:9000", true, "tcp")
	f("[fe80::1%lo]:9000", false, "")
	f("localhost:9000", false, "") // host names stay with fasthttp
	f("unix:/run/auth.sock", true, "unix")
	f("127.0.0.1", false, "")
}

// FuzzAuthHeaderEnd: the end, when found, is right after an LF, the block
// before it holds no earlier blank line, and the keep-alive reader never
// panics on it.
func FuzzAuthHeaderEnd(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nAuth-Status: OK\r\n\r\n"))
	f.Add([]byte("Auth-Status: OK\n\n"))
	f.Add([]byte("\r\r\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		end := authHeaderEnd(b)
		if end < 0 {
			if bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n")) || bytes.HasPrefix(b, []byte("\n")) || bytes.HasPrefix(b, []byte("\r\n")) {
				t.Fatalf("no end found in %q", b)
			}
			return
		}
		if end > len(b) || b[end-1] != '\n' {
			t.Fatalf("end %d of %q is not after an LF", end, b)
		}
		if e2 := authHeaderEnd(b[:end]); e2 != end {
			t.Fatalf("prefix %q ends at %d, not %d", b[:end], e2, end)
		}
		clen, keep := authKeepAlive(b[:end])
		if keep && (clen < 0 || clen > authMaxBody) {
			t.Fatalf("keep with length %d", clen)
		}
	})
}

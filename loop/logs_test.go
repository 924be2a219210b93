package loop

import "testing"

// TestClientTextCutsCredentials: what a log line quotes of a client's
// bytes keeps the command and drops what would be a password, a SASL
// response or a token (issue 11, D5).
func TestClientTextCutsCredentials(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := clientText([]byte(in)); got != want {
			t.Fatalf("clientText(%q) = %q, want %q", in, got, want)
		}
	}
	f("EHLO client.test\r\nAUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", "EHLO client.test...")
	f("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", "AUTH PLAIN...")
	f("auth login Ym9i\r\n", "auth login...")
	f("a1 LOGIN user1 secret\r\n", "a1 LOGIN...")
	f("a1 AUTHENTICATE XOAUTH2 dXNlcj1i\r\n", "a1 AUTHENTICATE XOAUTH2...")
	f("PASS secret\r\n", "PASS...")
	f("APOP bob 0123456789abcdef\r\n", "APOP...")
	f("USER bob\r\n", "USER bob...")
	f("USER bob", "USER bob")
	f("NOOP", "NOOP")
	f("\x1b[31mX\x00", "_[31mX_")
	f("", "")
	long := ""
	for range 30 {
		long += "abcd "
	}
	f(long, long[:100]+"...")
}

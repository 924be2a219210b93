package codec

import "testing"

func TestAppendXtext(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(AppendXtext([]byte("p:"), []byte(in))); got != "p:"+want {
			t.Errorf("AppendXtext(%q) = %q, want %q", in, got, "p:"+want)
		}
	}
	f("", "")
	f("user@example.com", "user@example.com")
	f("a+b", "a+2Bb")
	f("a=b", "a+3Db")
	f("a b", "a+20b")
	f("!~", "!~")                         // 0x21 and 0x7E are xchars
	f("\x00\x1f\x20\x7f", "+00+1F+20+7F") // controls, SP, DEL
	f("\xff", "+FF")
	f("été", "+C3+A9t+C3+A9")
	f("+=+", "+2B+3D+2B")
	f("\"<>\\", "\"<>\\")
	f("\r\n", "+0D+0A")
}

func TestAppendXtextAllBytes(t *testing.T) {
	for c := 0; c < 256; c++ {
		got := AppendXtext(nil, []byte{byte(c)})
		plain := c >= 0x21 && c <= 0x7E && c != '+' && c != '='
		if plain && (len(got) != 1 || got[0] != byte(c)) || !plain && len(got) != 3 {
			t.Errorf("byte %#02x: %q", c, got)
		}
	}
}

package codec

import (
	"fmt"
	"testing"
)

func TestReadLine(t *testing.T) {
	f := func(in string, limit int, want string) {
		t.Helper()
		line, n, res := ReadLine([]byte(in), limit)
		var got string
		switch res {
		case Done:
			got = fmt.Sprintf("%q %d", line, n)
		case NeedMore:
			got = fmt.Sprintf("more %d", n)
		case Invalid:
			got = fmt.Sprintf("invalid %d", n)
		}
		if got != want {
			t.Errorf("ReadLine(%q, %d) = %s, want %s", in, limit, got, want)
		}
	}
	f("dXNlcg==\r\n", 100, `"dXNlcg==" 10`)
	f("dXNlcg==\n", 100, `"dXNlcg==" 9`)
	f("\r\n", 100, `"" 2`)
	f("\n", 100, `"" 1`)
	f("a\r\nb\r\n", 100, `"a" 3`)
	f("a\rb\n", 100, `"a\rb" 4`)
	f("*\r\n", 100, `"*" 3`)
	f("", 100, `more 0`)
	f("abc", 100, `more 0`)
	f("abc\r", 100, `more 0`)
	f("abcd", 4, `invalid 4`)
	f("abcdef", 4, `invalid 6`)
	f("abc\n", 4, `"abc" 4`)
	f("abcd\n", 4, `invalid 5`)
	f("abc", 4, `more 0`)
	f("abcdef", 0, `more 0`)
	f("abcdef\n", 0, `"abcdef" 7`)
}

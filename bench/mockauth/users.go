package mockauth

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// LoadUsers reads a users file: one "user:password" per line; blank lines
// and lines starting with # are skipped. The password runs to the end of
// the line, colons included.
func LoadUsers(r io.Reader) (map[string]string, error) {
	users := map[string]string{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		user, pass, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("mockauth: users file line %d: want user:password", n)
		}
		users[user] = pass
	}
	return users, sc.Err()
}

package loadgen

import (
	"bytes"
	"strconv"
	"strings"
)

var imapOps = protoOps{
	greeting: func(s *session) error {
		l, err := s.line("greeting")
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(l, []byte("* OK")) {
			return badReply("greeting", "bad-reply", l)
		}
		return nil
	},
	login: func(s *session) error {
		return imapRoundTrip(s, "login", s.cfg.imapLogin, "a1 ", "rejected")
	},
	command: func(s *session) error {
		return imapRoundTrip(s, "command", []byte("a2 NOOP\r\n"), "a2 ", "bad-reply")
	},
	logout: func(s *session) error {
		return imapRoundTrip(s, "logout", []byte("a3 LOGOUT\r\n"), "a3 ", "bad-reply")
	},
	starttls: func(s *session) error {
		return imapRoundTrip(s, "tls", imapStartTLS, "s0 ", "rejected")
	},
	prepare: func(s *session) error {
		return imapRoundTrip(s, "select", []byte("s1 SELECT INBOX\r\n"), "s1 ", "bad-reply")
	},
	transfer: func(s *session) (int64, error) {
		if err := s.send("relay", []byte("f1 FETCH 1 BODY[]\r\n")); err != nil {
			return 0, err
		}
		return imapUntilTagged(s, "relay", "f1 ", "bad-reply")
	},
}

// imapRoundTrip sends cmd and waits for the tagged reply; a reply other
// than OK is reported with reason notOK.
func imapRoundTrip(s *session, phase string, cmd []byte, tag, notOK string) error {
	if err := s.send(phase, cmd); err != nil {
		return err
	}
	_, err := imapUntilTagged(s, phase, tag, notOK)
	return err
}

// imapUntilTagged reads untagged lines and literals until the line starting
// with tag, and returns the literal bytes skipped.
func imapUntilTagged(s *session, phase, tag, notOK string) (int64, error) {
	var lit int64
	for {
		l, err := s.line(phase)
		if err != nil {
			return lit, err
		}
		if bytes.HasPrefix(l, []byte(tag)) {
			if !bytes.HasPrefix(l[len(tag):], []byte("OK")) {
				return lit, badReply(phase, notOK, l)
			}
			return lit, nil
		}
		if n, ok := imapLiteral(l); ok {
			if _, err := s.r.Discard(int(n)); err != nil {
				return lit, ioFailure(phase, err)
			}
			lit += n
		}
		if bytes.HasPrefix(l, []byte("* BYE")) && phase != "logout" {
			return lit, badReply(phase, "bye", l)
		}
	}
}

// imapLiteral parses a trailing "{n}" of a server line.
func imapLiteral(l []byte) (int64, bool) {
	l = bytes.TrimRight(l, "\r\n")
	if len(l) < 3 || l[len(l)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(l[i+1:len(l)-1]), 10, 64)
	return n, err == nil && n >= 0
}

// imapString renders s as an atom when it can be one, else as a quoted
// string (RFC 9051 §4.3).
func imapString(s string) string {
	if s != "" && !strings.ContainsAny(s, " (){%*\"\\]\r\n\x7f") {
		ok := true
		for i := 0; i < len(s); i++ {
			if s[i] < 0x21 || s[i] > 0x7e {
				ok = false
			}
		}
		if ok {
			return s
		}
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

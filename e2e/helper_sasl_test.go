package e2e

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
)

// Harness: client-side SASL bits (base64, CRAM-MD5 digests, the greeting
// salt formats) shared by the IMAP, POP3 and SMTP tests.

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

var saltRe = regexp.MustCompile(`^<\d+\.\d+@mx\.test>$`)

// cramDigest answers the last challenge line the client read.
func cramDigest(c *client, pass string) string {
	c.t.Helper()
	last := c.seen[len(c.seen)-1]
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(last, "+ "))
	if err != nil {
		c.t.Fatalf("no CRAM-MD5 challenge in %q", last)
	}
	m := hmac.New(md5.New, []byte(pass))
	m.Write(raw)
	return hex.EncodeToString(m.Sum(nil))
}

var pop3SaltRe = regexp.MustCompile(`^<\d+\.\d+@mx\.test>$`)

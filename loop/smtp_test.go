package loop

import (
	"strings"
	"testing"

	"mailproxy/config"
)

func TestSMTPEHLOReply(t *testing.T) {
	f := func(auth config.AuthMethods, caps []string, want string) {
		t.Helper()
		got := string(smtpEHLOReply(&config.Server{ServerName: "mx.test", SMTPAuth: auth, SMTPCapabilities: caps}))
		if got != want {
			t.Fatalf("EHLO reply %q, want %q", got, want)
		}
	}
	f(config.AuthPlain|config.AuthLogin, nil, "250-mx.test\r\n250 AUTH PLAIN LOGIN\r\n")
	f(config.AuthExternal|config.AuthNone|config.AuthCramMD5|config.AuthLogin|config.AuthPlain, []string{"SIZE 10485760", "8BITMIME"},
		"250-mx.test\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN CRAM-MD5 EXTERNAL\r\n")
	f(config.AuthNone, nil, "250 mx.test\r\n")
	f(config.AuthNone, []string{"PIPELINING"}, "250-mx.test\r\n250 PIPELINING\r\n")
}

func TestSMTPCheckCaps(t *testing.T) {
	f := func(caps []string, refused string) {
		t.Helper()
		err := smtpCheckCaps(&config.Server{SMTPCapabilities: caps, File: "/etc/m.conf", Line: 7})
		switch {
		case refused == "" && err != nil:
			t.Fatalf("%q refused: %v", caps, err)
		case refused != "" && (err == nil || !strings.HasPrefix(err.Error(), `"`+refused+`" in smtp_capabilities`) || !strings.HasSuffix(err.Error(), " in /etc/m.conf:7")):
			t.Fatalf("%q: error %v, want one naming %q", caps, err, refused)
		}
	}
	f(nil, "")
	f([]string{"PIPELINING", "SIZE 100", "8BITMIME", "DSN"}, "")
	f([]string{"PIPELINING", "CHUNKING"}, "CHUNKING")
	f([]string{"chunking"}, "chunking")
	f([]string{"BINARYMIME"}, "BINARYMIME")
}

func TestSMTPIsBDAT(t *testing.T) {
	f := func(line string, want bool) {
		t.Helper()
		if got := smtpIsBDAT([]byte(line)); got != want {
			t.Fatalf("smtpIsBDAT(%q) = %v, want %v", line, got, want)
		}
	}
	f("BDAT 100 LAST\r\n", true)
	f("bdat 1\n", true)
	f("BDAT\r\n", true)
	f("BDATX 1\r\n", false)
	f("DATA\r\n", false)
	f("", false)
}

func TestSMTPReplyAccepted(t *testing.T) {
	f := func(step smtpBackendStep, code int, want bool) {
		t.Helper()
		if got := smtpReplyAccepted(step, code); got != want {
			t.Fatalf("step %d code %d: %v, want %v", step, code, got, want)
		}
	}
	f(smtpBackendGreeting, 220, true)
	f(smtpBackendGreeting, 250, false)
	f(smtpBackendHelo, 250, true)
	f(smtpBackendHelo, 220, false)
	f(smtpBackendXClient, 220, true)
	f(smtpBackendXClient, 250, true)
	f(smtpBackendXClient, 550, false)
	f(smtpBackendClientHelo, 220, true)
	f(smtpBackendAuth, 235, true)
	f(smtpBackendAuth, 250, false)
	f(smtpBackendMail, 250, true)
	f(smtpBackendMail, 550, false)
	f(smtpBackendRcpt, 550, true)
}

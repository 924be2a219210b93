package e2e

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"
)

// Wire strings are nginx's (reference §3.1.1), checked byte for byte.

func TestIMAPGreetingAndCapability(t *testing.T) {
	t.Parallel()
	f := func(extra, want string) {
		t.Helper()
		r := newIMAPRig(t, extra, backendOpts{})
		c := dialIMAP(t, r.port)
		c.send("a1 CAPABILITY\r\n")
		c.expect(want, "a1 OK completed")
	}
	f("", "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=PLAIN")
	// AUTH= items come in nginx's fixed order whatever the config order.
	f("imap_auth cram-md5 login plain;", "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5")
	f("imap_auth login;", "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS SASL-IR LITERAL+ AUTH=LOGIN")
	f("imap_capabilities IMAP4rev1 IDLE NAMESPACE;", "* CAPABILITY IMAP4rev1 IDLE NAMESPACE SASL-IR LITERAL+ AUTH=PLAIN")
}

func TestIMAPPreauthCommands(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})
	c := dialIMAP(t, r.port)
	f := func(cmd string, want ...string) {
		t.Helper()
		c.send(cmd)
		c.expect(want...)
	}
	f("a1 NOOP\r\n", "a1 OK completed")
	f("a2 noop\r\n", "a2 OK completed")
	f("a3 FOO\r\n", "a3 BAD invalid command")
	// nginx: ID is a parser error. Answering it is an allowed improvement
	// (reference §11, Mailu #2938), as "* ID NIL" + OK.
	c.send("a4 ID (\"name\" \"x\")\r\n")
	if l := c.line(); l == "* ID NIL" {
		c.expect("a4 OK completed")
	} else if l != "a4 BAD invalid command" {
		t.Fatalf("ID: got %q, want nginx's \"a4 BAD invalid command\" or \"* ID NIL\"", l)
	}
	f("a+5 NOOP\r\n", "* BAD invalid command")
	f("a6 LOGIN onlyone\r\n", "a6 BAD invalid command")
	f("a7 LOGOUT\r\n", "* BYE", "a7 OK completed")
	c.expectEOF()
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("pre-auth commands made %d auth requests", n)
	}
}

func TestIMAPLoginForms(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})
	// f runs one login dialogue: steps alternate client send / expected lines
	// (one string each, "" for none), then checks the auth request's user and
	// password and the bytes the backend received.
	f := func(steps []string, user, pass, backend string) {
		t.Helper()
		n := r.be.count()
		nreq := len(r.auth.requests())
		c := dialIMAP(t, r.port)
		for i := 0; i < len(steps); i += 2 {
			c.send(steps[i])
			if steps[i+1] != "" {
				c.expect(steps[i+1])
			}
		}
		c.expect("a1 OK [CAPABILITY IMAP4rev1] Logged in")
		reqs := r.auth.requests()
		if len(reqs) != nreq+1 {
			t.Fatalf("got %d auth requests, want 1", len(reqs)-nreq)
		}
		checkAuthReq(t, reqs[nreq], authPlainReq(user, pass, 1)...)
		if got := r.be.session(t, n).Login(); got != backend {
			t.Fatalf("backend got %q, want %q", got, backend)
		}
	}
	f([]string{"a1 LOGIN user pass\r\n", ""}, "user", "pass", "a1 LOGIN {4}\r\nuser {4}\r\npass\r\n")
	f([]string{"a1 LOGIN \"user\" \"pa ss\"\r\n", ""}, "user", "pa%20ss", "a1 LOGIN {4}\r\nuser {5}\r\npa ss\r\n")
	f([]string{"a1 LOGIN {4}\r\n", "+ OK", "user {4}\r\n", "+ OK", "pass\r\n", ""},
		"user", "pass", "a1 LOGIN {4}\r\nuser {4}\r\npass\r\n")
	// LITERAL+ is accepted although not advertised (reference §3.1.2).
	f([]string{"a1 LOGIN {4+}\r\nuser {4+}\r\npass\r\n", ""}, "user", "pass", "a1 LOGIN {4}\r\nuser {4}\r\npass\r\n")
	// {0}: nginx takes one byte of what follows as the password (Auth-Pass:
	// %0D); mailproxy must not copy that bug (reference §11).
	f([]string{"a1 LOGIN user {0}\r\n", "+ OK", "\r\n", ""}, "user", "", "a1 LOGIN {4}\r\nuser {0}\r\n\r\n")
	f([]string{"a1 AUTHENTICATE PLAIN\r\n", "+ ", b64("\x00user\x00pass") + "\r\n", ""},
		"user", "pass", "a1 LOGIN {4}\r\nuser {4}\r\npass\r\n")
	// The authzid is dropped; SASL-IR accepted though not advertised.
	f([]string{"a1 AUTHENTICATE PLAIN " + b64("admin\x00user\x00pass") + "\r\n", ""},
		"user", "pass", "a1 LOGIN {4}\r\nuser {4}\r\npass\r\n")
	f([]string{"a1 AUTHENTICATE LOGIN\r\n", "+ VXNlcm5hbWU6", b64("user") + "\r\n", "+ UGFzc3dvcmQ6", b64("pass") + "\r\n", ""},
		"user", "pass", "a1 LOGIN {4}\r\nuser {4}\r\npass\r\n")
	f([]string{"a1 AUTHENTICATE LOGIN " + b64("user") + "\r\n", "+ UGFzc3dvcmQ6", b64("pass") + "\r\n", ""},
		"user", "pass", "a1 LOGIN {4}\r\nuser {4}\r\npass\r\n")
	// Escaping: only 0x00-0x20 and % are %XX-encoded, UTF-8 passes raw.
	f([]string{"a1 LOGIN \"us er%\" \"p\xc3\xa4ss w\"\r\n", ""}, "us%20er%25", "p\xc3\xa4ss%20w",
		"a1 LOGIN {6}\r\nus er% {7}\r\np\xc3\xa4ss w\r\n")
}

func TestIMAPBackendLoginUsesClientTag(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{Untagged: "* CAPABILITY IMAP4rev1 IDLE"})
	c := dialIMAP(t, r.port)
	c.send("Xy.9_z-1 LOGIN user \"p\\\"w\"\r\n")
	// One untagged line before the tagged OK is relayed verbatim (1.27.3).
	c.expect("* CAPABILITY IMAP4rev1 IDLE", "Xy.9_z-1 OK [CAPABILITY IMAP4rev1] Logged in")
	if got, want := r.be.session(t, 0).Login(), "Xy.9_z-1 LOGIN {4}\r\nuser {3}\r\np\"w\r\n"; got != want {
		t.Fatalf("backend got %q, want %q", got, want)
	}
}

func TestIMAPAuthenticateCramMD5(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "imap_auth plain cram-md5;", backendOpts{})
	saltRe := regexp.MustCompile(`^<\d+\.\d+@mx\.test>$`)
	f := func(user string, ok bool) {
		t.Helper()
		nreq := len(r.auth.requests())
		c := dialIMAP(t, r.port)
		c.send("a1 AUTHENTICATE CRAM-MD5\r\n")
		l := c.line()
		if len(l) < 2 || l[:2] != "+ " {
			t.Fatalf("got %q, want + <base64 salt>", l)
		}
		raw, err := base64.StdEncoding.DecodeString(l[2:])
		if err != nil || !saltRe.Match(raw) {
			t.Fatalf("challenge %q decodes to %q (%v), want <RANDOM.TIME@mx.test>", l, raw, err)
		}
		salt := string(raw)
		m := hmac.New(md5.New, []byte("pass"))
		m.Write(raw)
		digest := hex.EncodeToString(m.Sum(nil))
		c.send(b64(user+" "+digest) + "\r\n")
		if ok {
			c.expect("a1 OK [CAPABILITY IMAP4rev1] Logged in")
		} else {
			c.expect("* BAD internal server error")
			c.expectEOF()
		}
		reqs := r.auth.requests()
		if len(reqs) != nreq+1 {
			t.Fatalf("got %d auth requests, want 1", len(reqs)-nreq)
		}
		checkAuthReq(t, reqs[nreq],
			"GET /auth HTTP/1.0",
			"Host: 127.0.0.1",
			"Auth-Method: cram-md5",
			"Auth-User: "+user,
			"Auth-Pass: "+digest,
			"Auth-Salt: <SALT>",
			"Auth-Protocol: imap",
			"Auth-Login-Attempt: 1",
			"Client-IP: 127.0.0.1")
		if got := reqs[nreq].get("Auth-Salt"); got != salt {
			t.Fatalf("Auth-Salt %q, client was challenged with %q", got, salt)
		}
	}
	f("user", true)
	// cram-md5 needs Auth-Pass from the auth server (reference §2.6).
	f("nopass", false)
	if got, want := r.be.session(t, 0).Login(), "a1 LOGIN {4}\r\nuser {4}\r\npass\r\n"; got != want {
		t.Fatalf("backend got %q, want %q", got, want)
	}
}

func TestIMAPAuthenticateBadBase64(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})
	c := dialIMAP(t, r.port)
	c.send("a1 AUTHENTICATE PLAIN\r\n")
	c.expect("+ ")
	c.send("!!!notbase64\r\n")
	c.expect("a1 BAD invalid command")
	c.send("a2 AUTHENTICATE PLAIN !!!\r\n")
	c.expect("a2 BAD invalid command")
	c.send("a3 AUTHENTICATE PLAIN\r\n")
	c.expect("+ ")
	c.send("*\r\n") // cancel is simply invalid base64 for nginx
	c.expect("a3 BAD invalid command")
	c.send("a4 AUTHENTICATE XOAUTH2\r\n")
	c.expect("a4 BAD invalid command")
	// nginx answers an untagged, unstarred "BAD invalid command" at the
	// AUTHENTICATE LOGIN username step; a tagged BAD is the allowed fix.
	c = dialIMAP(t, r.port)
	c.send("a5 AUTHENTICATE LOGIN\r\n")
	c.expect("+ VXNlcm5hbWU6")
	c.send("!!!\r\n")
	if l := c.line(); l != "BAD invalid command" && l != "a5 BAD invalid command" {
		t.Fatalf("got %q, want nginx's \"BAD invalid command\" or \"a5 BAD invalid command\"", l)
	}
	c.send("a6 NOOP\r\n")
	c.expect("a6 OK completed")
	if n := len(r.auth.requests()); n != 0 {
		t.Fatalf("bad base64 made %d auth requests", n)
	}
}

func TestIMAPAuthFailure(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})
	c := dialIMAP(t, r.port)
	c.send("a1 LOGIN bad secret\r\n")
	c.expect("a1 NO Invalid login or password")
	c.expectEOF()
	reqs := r.auth.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d auth requests, want 1", len(reqs))
	}
	checkAuthReq(t, reqs[0], authPlainReq("bad", "secret", 1)...)
	if r.be.count() != 0 {
		t.Fatal("a failed login reached the backend")
	}
}

func TestIMAPAuthWaitRetry(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})
	c := dialIMAP(t, r.port)
	// The failure comes after Auth-Wait (1 s); the session goes on.
	c.send("a1 LOGIN retry secret\r\n")
	c.expect("a1 NO Invalid login or password")
	c.send("a2 LOGIN retry secret2\r\n")
	c.expect("a2 OK [CAPABILITY IMAP4rev1] Logged in")
	reqs := r.auth.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d auth requests, want 2", len(reqs))
	}
	checkAuthReq(t, reqs[0], authPlainReq("retry", "secret", 1)...)
	checkAuthReq(t, reqs[1], authPlainReq("retry", "secret2", 2)...)
}

func TestIMAPAuthStatusWait(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})
	c := dialIMAP(t, r.port)
	c.send("a1 LOGIN waitst secret\r\n")
	c.expect("a1 OK [CAPABILITY IMAP4rev1] Logged in")
	reqs := r.auth.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d auth requests, want 2 (WAIT then OK)", len(reqs))
	}
	// WAIT repeats the same request with the same attempt number.
	checkAuthReq(t, reqs[0], authPlainReq("waitst", "secret", 1)...)
	checkAuthReq(t, reqs[1], authPlainReq("waitst", "secret", 1)...)
}

func TestIMAPAuthInternalError(t *testing.T) {
	t.Parallel()
	f := func(name, extra, user string) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newIMAPRig(t, extra, backendOpts{})
			c := dialIMAP(t, r.port)
			c.send("a1 LOGIN " + user + " secret\r\n")
			c.expect("* BAD internal server error")
			c.expectEOF()
			r.p.mustBeAlive(t)
		})
	}
	f("malformed", "", "broken")
	f("oversized", "auth_http_timeout 2s;", "big") // nginx 1.22 waits for the timeout
	f("non-ip-server", "", "hostname")
	f("no-server", "", "noserver")
	f("closed", "", "close")
	f("hung", "auth_http_timeout 2s;", "hang")
	t.Run("down", func(t *testing.T) {
		t.Parallel()
		authPort := freePort(t) // nothing listens there
		port := freePort(t)
		p := startProxy(t, imapConf(t, fmt.Sprintf("127.0.0.1:%d", authPort), port, ""))
		c := dialIMAP(t, port)
		c.send("a1 LOGIN user secret\r\n")
		c.expect("* BAD internal server error")
		c.expectEOF()
		p.mustBeAlive(t)
	})
}

func TestIMAPMaxErrors(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "max_errors 3;", backendOpts{})
	c := dialIMAP(t, r.port)
	// Semantic rejections do not count (reference §1.1).
	for range 4 {
		c.send("a1 LOGIN onlyone\r\n")
		c.expect("a1 BAD invalid command")
	}
	c.send("a2 FOO\r\n")
	c.expect("a2 BAD invalid command")
	c.send("a+ NOOP\r\n")
	c.expect("* BAD invalid command")
	c.send("a3 NOOP\r\n")
	c.expect("a3 OK completed")
	// The third parser error gets its reply, then the close.
	c.send("a4 BAR\r\n")
	c.expect("a4 BAD invalid command")
	c.expectEOF()
}

func TestIMAPProxyPassErrorMessage(t *testing.T) {
	t.Parallel()
	f := func(extra string, want, level string) {
		t.Helper()
		r := newIMAPRig(t, extra, backendOpts{})
		c := dialIMAP(t, r.port)
		c.send("a1 LOGIN backno secret\r\n")
		c.expect(want)
		c.expectEOF()
		// The backend's line is logged as nginx 1.22 logs it: without its
		// CRLF, with the "while" context.
		logRe := regexp.MustCompile(`\[` + level + `\] .*upstream sent invalid response: "\S+ ` +
			regexp.QuoteMeta(backendNoReply) + `" while reading response from upstream, `)
		var data []byte
		waitFor(t, 5*time.Second, func() bool {
			data, _ = os.ReadFile(r.p.errorLog)
			return logRe.Match(data)
		}, func() string {
			return fmt.Sprintf("no line matching %s in the error log:\n%s", logRe, tail(string(data), 2000))
		})
	}
	f("", "* BAD internal server error", "error")
	f("proxy_pass_error_message off;", "* BAD internal server error", "error")
	f("proxy_pass_error_message on;", "a1 "+backendNoReply, "info")
}

func TestIMAPPipelinedAfterLogin(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})
	c := dialIMAP(t, r.port)
	c.send("a1 LOGIN user pass\r\na2 ECHO hi\r\na3 NOOP\r\n")
	c.expect("a1 OK [CAPABILITY IMAP4rev1] Logged in",
		"* ECHO hi", "a2 OK ECHO completed", "a3 OK NOOP completed")
	if got, want := r.be.session(t, 0).After(), "a2 ECHO hi\r\na3 NOOP\r\n"; got != want {
		t.Fatalf("backend got %q after login, want %q", got, want)
	}
}

func TestIMAPAuthOverridesReachBackend(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{})
	c := dialIMAP(t, r.port)
	c.login("a1", "override", "clientpass")
	if got, want := r.be.session(t, 0).Login(), "a1 LOGIN {8}\r\nbackuser {8}\r\nbackpass\r\n"; got != want {
		t.Fatalf("backend got %q, want %q", got, want)
	}
}

func TestIMAPRelay(t *testing.T) {
	t.Parallel()
	r := newIMAPRig(t, "", backendOpts{FetchSize: 100})
	c := dialIMAP(t, r.port)
	c.login("a1", "user", "pass")
	c.send("a2 ECHO hello world\r\n")
	c.expect("* ECHO hello world", "a2 OK ECHO completed")
	c.send("a3 FETCH 1 BODY[]\r\n")
	c.expect("* 1 FETCH (BODY[] {100}")
	buf := make([]byte, 100)
	c.readFull(buf)
	var want []byte
	want = append(want, patternBlock[8:100]...)
	if string(buf[8:]) != string(want) {
		t.Fatal("FETCH literal corrupted")
	}
	c.expect(")", "a3 OK FETCH completed")
	c.send("a4 LOGOUT\r\n")
	c.expect("* BYE fake backend logging out", "a4 OK LOGOUT completed")
	c.expectEOF()
}

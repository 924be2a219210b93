package codec

import (
	"errors"
	"strings"
	"testing"

	"mailproxy/config"
)

func TestAuthEscape(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(AppendAuthEscape(nil, []byte(in))); got != want {
			t.Errorf("AppendAuthEscape(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("user", "user")
	f("us er%", "us%20er%25")      // reference §2.4, verified against nginx
	f("päss w", "p\xc3\xa4ss%20w") // raw UTF-8, space escaped
	f("\x00\x01\x1f\x20", "%00%01%1F%20")
	f("\r\n\t", "%0D%0A%09")
	f("\"quoted\":a+b", "\"quoted\":a+b")
	f("\x7f\xff", "\x7f\xff")
	f("100%", "100%25")
	f("%%", "%25%25")
}

// The two requests observed from nginx 1.31.5 (reference §2.2), minus the
// request line and Host, which the HTTP client writes.
func TestAuthHeadersObserved(t *testing.T) {
	secret := []config.Header{{Name: "X-Secret", Value: "s3 cret"}}
	f := func(r *AuthRequest, want string) {
		t.Helper()
		got := string(AppendAuthHeaders(nil, r, secret))
		if got != want {
			t.Errorf("AppendAuthHeaders:\n%s\nwant:\n%s", got, want)
		}
	}
	f(&AuthRequest{
		Method: "cram-md5", User: []byte("user"), Pass: []byte("00000000000000000000000000000000"),
		Salt: []byte("<1845796265.1795628887@mx.test>"), Protocol: "imap", Attempt: 1, ClientIP: "127.0.0.1",
	}, "Auth-Method: cram-md5\r\n"+
		"Auth-User: user\r\n"+
		"Auth-Pass: 00000000000000000000000000000000\r\n"+
		"Auth-Salt: <1845796265.1795628887@mx.test>\r\n"+
		"Auth-Protocol: imap\r\n"+
		"Auth-Login-Attempt: 1\r\n"+
		"Client-IP: 127.0.0.1\r\n"+
		"X-Secret: s3 cret\r\n")
	f(&AuthRequest{
		Method: "none", Protocol: "smtp", Attempt: 1, ClientIP: "127.0.0.1", ClientHost: "[UNAVAILABLE]",
		SMTPHelo: []byte("client.example"),
		SMTPFrom: []byte("MAIL FROM:<s@x.org> SIZE=100 BODY=8BITMIME"),
		SMTPTo:   []byte("RCPT TO:<r@y.org> NOTIFY=NEVER"),
	}, "Auth-Method: none\r\n"+
		"Auth-User: \r\n"+
		"Auth-Pass: \r\n"+
		"Auth-Protocol: smtp\r\n"+
		"Auth-Login-Attempt: 1\r\n"+
		"Client-IP: 127.0.0.1\r\n"+
		"Client-Host: [UNAVAILABLE]\r\n"+
		"Auth-SMTP-Helo: client.example\r\n"+
		"Auth-SMTP-From: MAIL FROM:<s@x.org> SIZE=100 BODY=8BITMIME\r\n"+
		"Auth-SMTP-To: RCPT TO:<r@y.org> NOTIFY=NEVER\r\n"+
		"X-Secret: s3 cret\r\n")
}

// authNames lists the header names of AppendAuthHeaders' output, in order.
func authNames(b []byte) string {
	var names []string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		names = append(names, name)
	}
	return strings.Join(names, " ")
}

func TestAuthHeadersPresence(t *testing.T) {
	f := func(r *AuthRequest, want string) {
		t.Helper()
		if got := authNames(AppendAuthHeaders(nil, r, nil)); got != want {
			t.Errorf("%s: headers\n %s\nwant\n %s", r.Method, got, want)
		}
	}
	salt := []byte("<1.2@mx>")
	base := "Auth-Method Auth-User Auth-Pass"
	tail := "Auth-Protocol Auth-Login-Attempt Client-IP"
	f(&AuthRequest{Method: "plain", Salt: salt, Protocol: "imap", Attempt: 1, ClientIP: "::1"}, base+" "+tail)
	f(&AuthRequest{Method: "apop", Salt: salt, Protocol: "pop3", Attempt: 1, ClientIP: "::1"}, base+" Auth-Salt "+tail)
	f(&AuthRequest{Method: "cram-md5", Salt: salt, Protocol: "smtp", Attempt: 2, ClientIP: "::1", ClientHost: "h.example"}, base+" Auth-Salt "+tail+" Client-Host")
	// nginx sends the session salt for every non-plain method
	f(&AuthRequest{Method: "external", Salt: salt, Protocol: "imap", Attempt: 1, ClientIP: "::1"}, base+" Auth-Salt "+tail)
	f(&AuthRequest{Method: "external", Protocol: "imap", Attempt: 1, ClientIP: "::1"}, base+" "+tail)
	f(&AuthRequest{Method: "none", Protocol: "smtp", Attempt: 1, ClientIP: "::1", ClientHost: "[UNAVAILABLE]"}, base+" "+tail+" Client-Host Auth-SMTP-Helo Auth-SMTP-From Auth-SMTP-To")
	f(&AuthRequest{Method: "plain", Protocol: "imap", Attempt: 1, ClientIP: "1.2.3.4", ClientPort: 5555}, base+" "+tail+" Client-Port")
	f(&AuthRequest{Method: "plain", Protocol: "imap", Attempt: 1, ClientIP: "1.2.3.4", HasProxy: true}, base+" "+tail+" Proxy-Protocol-Addr Proxy-Protocol-Port Proxy-Protocol-Server-Addr Proxy-Protocol-Server-Port")
	f(&AuthRequest{Method: "plain", Protocol: "imap", Attempt: 1, ClientIP: "1.2.3.4", SSL: true}, base+" "+tail+" Auth-SSL")
	f(&AuthRequest{Method: "plain", Protocol: "imap", Attempt: 1, ClientIP: "1.2.3.4", SSL: true, SSLProtocol: "TLSv1.3", SSLCipher: "TLS_AES_256_GCM_SHA384", SSLVerify: "NONE"}, base+" "+tail+" Auth-SSL Auth-SSL-Protocol Auth-SSL-Cipher Auth-SSL-Verify")
	f(&AuthRequest{Method: "plain", Protocol: "imap", Attempt: 1, ClientIP: "1.2.3.4", SSLProtocol: "TLSv1.3", SSLVerify: "NONE"}, base+" "+tail)
	f(&AuthRequest{Method: "plain", Protocol: "imap", Attempt: 1, ClientIP: "1.2.3.4", SSL: true, SSLProtocol: "TLSv1.3", SSLCipher: "C", SSLVerify: "SUCCESS",
		SSLSubject: "CN=c", SSLIssuer: "CN=i", SSLSerial: "4B", SSLFingerprint: "73", SSLCert: []byte("-----BEGIN CERTIFICATE-----\nMII\n")},
		base+" "+tail+" Auth-SSL Auth-SSL-Protocol Auth-SSL-Cipher Auth-SSL-Verify Auth-SSL-Subject Auth-SSL-Issuer Auth-SSL-Serial Auth-SSL-Fingerprint Auth-SSL-Cert")
}

func TestAuthHeadersFull(t *testing.T) {
	r := &AuthRequest{
		Method: "plain", User: []byte("us er%"), Pass: []byte("päss w"), Protocol: "imap", Attempt: 3,
		ClientIP: "192.0.2.1", ClientPort: 40000,
		HasProxy: true, ProxyAddr: "192.0.2.1", ProxyPort: 4567, ProxyServerAddr: "198.51.100.2", ProxyServerPort: 143,
		SSL: true, SSLProtocol: "TLSv1.3", SSLCipher: "TLS_AES_256_GCM_SHA384", SSLVerify: "FAILED:self-signed certificate",
		SSLSubject: "CN=client.example", SSLIssuer: "CN=client.example", SSLSerial: "4B84E8D3", SSLFingerprint: "733d3447",
		SSLCert: []byte("-----BEGIN CERTIFICATE-----\nMIID\n"),
	}
	extra := []config.Header{{Name: "X-A", Value: "1"}, {Name: "X-B", Value: "two words"}}
	want := "Auth-Method: plain\r\n" +
		"Auth-User: us%20er%25\r\n" +
		"Auth-Pass: p\xc3\xa4ss%20w\r\n" +
		"Auth-Protocol: imap\r\n" +
		"Auth-Login-Attempt: 3\r\n" +
		"Client-IP: 192.0.2.1\r\n" +
		"Client-Port: 40000\r\n" +
		"Proxy-Protocol-Addr: 192.0.2.1\r\n" +
		"Proxy-Protocol-Port: 4567\r\n" +
		"Proxy-Protocol-Server-Addr: 198.51.100.2\r\n" +
		"Proxy-Protocol-Server-Port: 143\r\n" +
		"Auth-SSL: on\r\n" +
		"Auth-SSL-Protocol: TLSv1.3\r\n" +
		"Auth-SSL-Cipher: TLS_AES_256_GCM_SHA384\r\n" +
		"Auth-SSL-Verify: FAILED:self-signed certificate\r\n" +
		"Auth-SSL-Subject: CN=client.example\r\n" +
		"Auth-SSL-Issuer: CN=client.example\r\n" +
		"Auth-SSL-Serial: 4B84E8D3\r\n" +
		"Auth-SSL-Fingerprint: 733d3447\r\n" +
		"Auth-SSL-Cert: -----BEGIN%20CERTIFICATE-----%0AMIID%0A\r\n" +
		"X-A: 1\r\n" +
		"X-B: two words\r\n"
	if got := string(AppendAuthHeaders(nil, r, extra)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestAuthHeadersNoInjection(t *testing.T) {
	r := &AuthRequest{Method: "none", Protocol: "smtp", Attempt: 1, ClientIP: "1.2.3.4",
		ClientHost: "evil\r\nX-Injected: 1", SMTPHelo: []byte("h\r\nX: y"), SMTPFrom: []byte("a\nb"), SMTPTo: []byte("c\rd")}
	got := string(AppendAuthHeaders(nil, r, nil))
	want := "Auth-Method Auth-User Auth-Pass Auth-Protocol Auth-Login-Attempt Client-IP Client-Host Auth-SMTP-Helo Auth-SMTP-From Auth-SMTP-To"
	if strings.Count(got, "\r\n") != 10 || strings.Count(got, "\n") != 10 || authNames([]byte(got)) != want {
		t.Errorf("CR/LF leaked into a header value:\n%q", got)
	}
}

func TestAuthResponse(t *testing.T) {
	// f parses in and renders the fields that matter as one line.
	f := func(in, want string) {
		t.Helper()
		var r AuthResponse
		if err := ParseAuthResponse([]byte(in), &r); err != nil {
			t.Errorf("ParseAuthResponse(%q): %v", in, err)
			return
		}
		if got := authRender(&r); got != want {
			t.Errorf("ParseAuthResponse(%q)\n got %s\nwant %s", in, got, want)
		}
	}
	// status line skipped, absent, code ignored
	f("HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\n\r\n", `ok status="OK" server="127.0.0.1" port="143"`)
	f("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\n\r\n", `ok status="OK" server="127.0.0.1" port="143"`)
	f("HTTP/1.1 500 Internal Server Error\r\nAuth-Status: OK\r\nAuth-Server: ::1\r\nAuth-Port: 110\r\n\r\n", `ok status="OK" server="::1" port="110"`)
	f("HTTP/1.1 500 Internal Server Error\r\n\r\n", `ok status=""`)
	f("\r\n", `ok status=""`)
	f("HTTX: y\r\n\r\n", `ok status=""`) // not a status line: a header
	// bare LF, trailing-space trim, inner spaces kept, case-insensitive names
	f("HTTP/1.0 200 OK\nauth-status: Invalid login  or password   \nAUTH-WAIT: 3\n\n", `fail status="Invalid login  or password" wait=3`)
	f("Auth-Status:OK\r\nAuth-Server:   10.0.0.1  \r\nAuth-Port: 25\r\n\r\n", `ok status="OK" server="10.0.0.1" port="25"`)
	f("Auth-Status: OK\r\nAuth-Server\r\nAuth-Port:\r\n\r\n", `ok status="OK"`) // name alone: empty value
	f("Auth-Status: Bad\tone \r\n\r\n", "fail status=\"Bad\tone\"")             // only spaces are trimmed
	// OK and WAIT are exact and uppercase
	f("Auth-Status: ok\r\n\r\n", `fail status="ok"`)
	f("Auth-Status: OK \r\n\r\n", `ok status="OK"`)
	f("Auth-Status: WAIT\r\nAuth-Wait: 2\r\n\r\n", `wait status="WAIT" wait=2`)
	f("Auth-Status: Wait\r\n\r\n", `fail status="Wait"`)
	f("Auth-Status: WAIT\r\n\r\n", `wait status="WAIT"`)
	f("Auth-Status: WAIT\r\nAuth-Status: OK\r\n\r\n", `wait status="WAIT"`)
	// Auth-Wait: integers only, an invalid one keeps the earlier value
	f("Auth-Status: WAIT\r\nAuth-Wait: abc\r\n\r\n", `wait status="WAIT"`)
	f("Auth-Status: WAIT\r\nAuth-Wait: -1\r\n\r\n", `wait status="WAIT"`)
	f("Auth-Status: WAIT\r\nAuth-Wait: 1.5\r\n\r\n", `wait status="WAIT"`)
	f("Auth-Status: WAIT\r\nAuth-Wait: 0\r\n\r\n", `wait status="WAIT" wait=0`)
	f("Auth-Status: WAIT\r\nAuth-Wait: 4\r\nAuth-Wait: x\r\n\r\n", `wait status="WAIT" wait=4`)
	f("Auth-Status: WAIT\r\nAuth-Wait: 99999999999999999999\r\n\r\n", `wait status="WAIT"`)
	// a failure is never cleared by a later OK; last failure wins; failure beats WAIT
	f("Auth-Status: Invalid login\r\nAuth-Status: OK\r\n\r\n", `fail status="Invalid login"`)
	f("Auth-Status: first\r\nAuth-Status: second\r\n\r\n", `fail status="second"`)
	f("Auth-Status: WAIT\r\nAuth-Status: no\r\n\r\n", `fail status="no"`)
	f("Auth-Status: no\r\nAuth-Status: WAIT\r\n\r\n", `fail status="no"`)
	f("Auth-Status: \r\n\r\n", `fail status=""`)
	// overrides are raw (nginx does not unescape), last one wins
	f("Auth-Status: OK\r\nAuth-User: a%20b\r\nAuth-Pass: p\r\nAuth-Pass: q w\r\n\r\n", `ok status="OK" user="a%20b" pass="q w"`)
	f("Auth-Status: OK\r\nAuth-User:\r\n\r\n", `ok status="OK" user=""`)
	f("Auth-Status: Temporary server problem, try again later\r\nAuth-Error-Code: 451 4.3.0\r\n\r\n", `fail status="Temporary server problem, try again later" code="451 4.3.0"`)
	// unknown headers ignored; body ignored
	f("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-1: y\r\nAuth-Status: OK\r\n\r\nbody", `ok status="OK"`)
}

// authRender prints an AuthResponse compactly for table tests.
func authRender(r *AuthResponse) string {
	var b strings.Builder
	switch {
	case r.OK && !r.Wait:
		b.WriteString("ok")
	case r.Wait && !r.OK:
		b.WriteString("wait")
	case !r.OK && !r.Wait:
		b.WriteString("fail")
	default:
		b.WriteString("BUG")
	}
	b.WriteString(" status=" + authQuote(r.Status))
	if r.Server != "" {
		b.WriteString(" server=" + authQuote(r.Server))
	}
	if r.Port != "" {
		b.WriteString(" port=" + authQuote(r.Port))
	}
	if r.HasUser {
		b.WriteString(" user=" + authQuote(string(r.User)))
	}
	if r.HasPass {
		b.WriteString(" pass=" + authQuote(string(r.Pass)))
	}
	if r.HasWait {
		b.WriteString(" wait=" + authItoa(r.WaitSecs))
	}
	if r.ErrorCode != "" {
		b.WriteString(" code=" + authQuote(r.ErrorCode))
	}
	return b.String()
}

func authQuote(s string) string { return "\"" + s + "\"" }

func authItoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

func TestAuthResponseErrors(t *testing.T) {
	f := func(in string, want error) {
		t.Helper()
		var r AuthResponse
		if err := ParseAuthResponse([]byte(in), &r); !errors.Is(err, want) {
			t.Errorf("ParseAuthResponse(%q) = %v, want %v", in, err, want)
		}
	}
	f("HTTP/1.0 200 OK\rX\r\n\r\n", ErrAuthInvalidResponse) // CR in status line not followed by LF
	f("HTTP/1.0 200 OK\r\nAuth_Status: OK\r\n\r\n", ErrAuthInvalidHeader)
	f("Auth Status: OK\r\n\r\n", ErrAuthInvalidHeader)
	f("-Auth: x\r\n\r\n", ErrAuthInvalidHeader)
	f(" Auth-Status: OK\r\n\r\n", ErrAuthInvalidHeader)
	f("Auth-Status: O\rK\r\n\r\n", ErrAuthInvalidHeader)
	f("Auth-Status: OK\r\n\rx", ErrAuthInvalidHeader)
	f("Auth-Status\rx\r\n\r\n", ErrAuthInvalidHeader)
	// incomplete: premature close
	f("", ErrAuthInvalidResponse)
	f("HTTP/1.0 200 OK\r\n", ErrAuthInvalidResponse)
	f("HTTP/1.0 200 OK\r\nAuth-Status: OK\r\n", ErrAuthInvalidResponse)
	f("HTT", ErrAuthInvalidResponse)
	f("Auth-Status: OK\r\n\r", ErrAuthInvalidResponse)
	// the 1024-byte cap covers the status line and the blank line
	pad := func(n int) string { return "X-Pad: " + strings.Repeat("a", n-len("X-Pad: \r\n")) + "\r\n" }
	status := "HTTP/1.0 200 OK\r\n" // 17 bytes
	f(status+pad(AuthMaxResponse-len(status)-2)+"\r\n", nil)
	f(status+pad(AuthMaxResponse-len(status)-1)+"\r\n", ErrAuthTooLarge)
	f(status+pad(1100)+"\r\n", ErrAuthTooLarge)
	f(strings.Repeat("x", AuthMaxResponse), ErrAuthTooLarge)
	f(status+"X-Bad_Name: 1\r\n"+pad(1100)+"\r\n", ErrAuthInvalidHeader) // nginx errors before the buffer fills
}

func TestAuthResponseReuse(t *testing.T) {
	var r AuthResponse
	in1 := []byte("Auth-Status: OK\r\nAuth-Server: 10.0.0.1\r\nAuth-Port: 143\r\nAuth-Pass: secret\r\n\r\n")
	if err := ParseAuthResponse(in1, &r); err != nil || !r.OK || string(r.Pass) != "secret" {
		t.Fatalf("first parse: %v %+v", err, r)
	}
	in2 := []byte("Auth-Status: no\r\n\r\n")
	if err := ParseAuthResponse(in2, &r); err != nil {
		t.Fatal(err)
	}
	if r.OK || r.HasPass || r.Server != "" || r.Port != "" || r.Status != "no" {
		t.Errorf("fields leaked from the previous parse: %+v", r)
	}
	// values must not alias the input
	if err := ParseAuthResponse(in1, &r); err != nil {
		t.Fatal(err)
	}
	for i := range in1 {
		in1[i] = 'z'
	}
	if r.Server != "10.0.0.1" || r.Port != "143" || string(r.Pass) != "secret" {
		t.Errorf("values alias the input: %+v", r)
	}
}

func TestAuthBackend(t *testing.T) {
	f := func(server, port, want string, wantErr error) {
		t.Helper()
		r := AuthResponse{Server: server, Port: port}
		ap, err := r.Backend()
		if !errors.Is(err, wantErr) {
			t.Errorf("Backend(%q, %q) error %v, want %v", server, port, err, wantErr)
			return
		}
		if err == nil && ap.String() != want {
			t.Errorf("Backend(%q, %q) = %s, want %s", server, port, ap, want)
		}
	}
	f("127.0.0.1", "143", "127.0.0.1:143", nil)
	f("::1", "110", "[::1]:110", nil)
	f("2001:db8::5", "65535", "[2001:db8::5]:65535", nil)
	f("", "143", "", ErrAuthNoServer)
	f("127.0.0.1", "", "", ErrAuthNoServer)
	f("localhost", "143", "", ErrAuthInvalidServer)
	f("[::1]", "143", "", ErrAuthInvalidServer)
	f("fe80::1%eth0", "143", "", ErrAuthInvalidServer)
	f("127.0.0.1", "0", "", ErrAuthInvalidPort)
	f("127.0.0.1", "65536", "", ErrAuthInvalidPort)
	f("127.0.0.1", "+25", "", ErrAuthInvalidPort)
	f("127.0.0.1", "2 5", "", ErrAuthInvalidPort)
}

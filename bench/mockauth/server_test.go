package mockauth

import (
	"bufio"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
)

func startMock(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

var testBackends = map[string]string{"imap": "127.0.0.1:10143", "pop3": "127.0.0.1:10110", "smtp": "127.0.0.1:10025"}

// readHead reads one response head and returns it without the status line.
func readHead(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var sb strings.Builder
	first := true
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (got %q)", err, sb.String())
		}
		if line == "\r\n" {
			return sb.String()
		}
		if first {
			first = false
			continue
		}
		sb.WriteString(strings.TrimSuffix(line, "\r\n") + "|")
	}
}

func TestDecisionsHTTP10(t *testing.T) {
	s, addr := startMock(t, Config{Passwords: []string{"pass", "secret"}, Backends: testBackends, Wait: 3})
	f := func(headers, want string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /auth HTTP/1.0\r\nHost: 127.0.0.1\r\n"+headers+"\r\n")
		r := bufio.NewReader(c)
		if got := readHead(t, r); got != want {
			t.Errorf("%q:\n got %q\nwant %q", headers, got, want)
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Errorf("%q: HTTP/1.0 connection not closed: %v", headers, err)
		}
	}
	f("Auth-Method: plain\r\nAuth-User: u\r\nAuth-Pass: pass\r\nAuth-Protocol: imap\r\n",
		"Auth-Status: OK|Auth-Server: 127.0.0.1|Auth-Port: 10143|Content-Length: 0|")
	f("Auth-Method: plain\r\nAuth-User: u\r\nAuth-Pass: secret\r\nAuth-Protocol: smtp\r\n",
		"Auth-Status: OK|Auth-Server: 127.0.0.1|Auth-Port: 10025|Content-Length: 0|")
	f("Auth-Method: plain\r\nAuth-User: u\r\nAuth-Pass: nope\r\nAuth-Protocol: pop3\r\n",
		"Auth-Status: Invalid login or password|Auth-Wait: 3|Content-Length: 0|")
	f("Auth-Method: plain\r\nAuth-User: u\r\nAuth-Pass: pass\r\nAuth-Protocol: nntp\r\n",
		"Auth-Status: Temporary server problem, try again later|Content-Length: 0|")
	f("Auth-Method: none\r\nAuth-User: \r\nAuth-Pass: \r\nAuth-Protocol: smtp\r\n",
		"Auth-Status: OK|Auth-Server: 127.0.0.1|Auth-Port: 10025|Content-Length: 0|")
	salt := "<1845796265.1795628887@mx.test>"
	m := hmac.New(md5.New, []byte("secret"))
	m.Write([]byte(salt))
	f("Auth-Method: cram-md5\r\nAuth-User: u\r\nAuth-Pass: "+hex.EncodeToString(m.Sum(nil))+"\r\nAuth-Salt: "+salt+"\r\nAuth-Protocol: imap\r\n",
		"Auth-Status: OK|Auth-Server: 127.0.0.1|Auth-Port: 10143|Auth-Pass: secret|Content-Length: 0|")
	sum := md5.Sum([]byte(salt + "pass"))
	f("Auth-Method: apop\r\nAuth-User: u\r\nAuth-Pass: "+hex.EncodeToString(sum[:])+"\r\nAuth-Salt: "+salt+"\r\nAuth-Protocol: pop3\r\n",
		"Auth-Status: OK|Auth-Server: 127.0.0.1|Auth-Port: 10110|Auth-Pass: pass|Content-Length: 0|")
	f("Auth-Method: apop\r\nAuth-User: u\r\nAuth-Pass: 00000000000000000000000000000000\r\nAuth-Salt: "+salt+"\r\nAuth-Protocol: pop3\r\n",
		"Auth-Status: Invalid login or password|Auth-Wait: 3|Content-Length: 0|")
	if st := s.Stats(); st.Accepts != 8 || st.Requests != 8 || st.OK != 5 || st.Failed != 2 || st.Internal != 1 {
		t.Errorf("stats %v", st)
	}
}

func TestKeepAliveCountsAcceptsAndRequests(t *testing.T) {
	s, addr := startMock(t, Config{Users: map[string]string{"us er%": "p w"}, Backends: testBackends})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	req := "GET /auth HTTP/1.1\r\nHost: x\r\nAuth-Method: plain\r\nAuth-User: us%20er%25\r\nAuth-Pass: p%20w\r\nAuth-Protocol: imap\r\n\r\n"
	// Three pipelined requests on one connection, then a /stats request.
	io.WriteString(c, req+req+req+"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	for i := 0; i < 3; i++ {
		if got, want := readHead(t, r), "Auth-Status: OK|Auth-Server: 127.0.0.1|Auth-Port: 10143|Content-Length: 0|"; got != want {
			t.Fatalf("reply %d: %q", i, got)
		}
	}
	readHead(t, r)
	body, _ := io.ReadAll(r)
	if want := `{"accepts":1,"requests":3,"ok":3,"failed":0,"internal":0,"bad":0}` + "\n"; string(body) != want {
		t.Errorf("stats body %q", body)
	}
	if st := s.Stats(); st.Accepts != 1 || st.Requests != 3 {
		t.Errorf("stats %v", st)
	}
}

func TestUnknownUserFailsWithUsersFile(t *testing.T) {
	users, err := LoadUsers(strings.NewReader("# comment\nalice:a:b\n\nbob:x\n"))
	if err != nil || users["alice"] != "a:b" || users["bob"] != "x" || len(users) != 2 {
		t.Fatalf("LoadUsers: %v %v", users, err)
	}
	s, _ := New(Config{Users: users, Backends: testBackends})
	f := func(user, pass string, want authVerdict) {
		t.Helper()
		q := &authRequest{method: []byte("plain"), user: []byte(user), pass: []byte(pass), protocol: []byte("imap")}
		if got, _ := s.decide(q); got != want {
			t.Errorf("%s/%s: got %d want %d", user, pass, got, want)
		}
	}
	f("alice", "a:b", authOK)
	f("alice", "x", authFail)
	f("carol", "x", authFail)
}

func TestUnescapeMail(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(unescapeMail(nil, []byte(in))); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
	f("us%20er%25", "us er%")
	f("p%0D", "p\r")
	f("bad%2", "bad%2")
	f("bad%zz", "bad%zz")
	f("%", "%")
	f("pÃ¤ss%20w", "pÃ¤ss w")
}

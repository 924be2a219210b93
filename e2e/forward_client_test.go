package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// proxy_forward_client (issue 15): a real Dovecot whose
// login_trusted_networks includes loopback logs the client's address,
// 127.0.0.7 here, not mailproxy's 127.0.0.1, once mailproxy sends IMAP ID
// and POP3 XCLIENT; with the directive off it logs mailproxy's.
func TestForwardClientToDovecot(t *testing.T) {
	t.Parallel()
	d := startDovecotWith(t, "trusted.conf.in")
	auth := startAuth(t, func(r *authReq) string {
		if r.get("Auth-User") != dovecotUser || r.get("Auth-Pass") != dovecotPass {
			return authFail("Invalid login or password", 0)
		}
		if r.get("Auth-Protocol") == "pop3" {
			return authOK(d.POP3Port)
		}
		return authOK(d.IMAPPort)
	})
	f := func(forward bool) (imapLine, pop3Line string) {
		t.Helper()
		imap, pop3 := freePort(t), freePort(t)
		dir := t.TempDir()
		on := "off"
		if forward {
			on = "on"
		}
		p := startProxy(t, fmt.Sprintf(`worker_processes 1;
error_log %s/error.log info;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
    proxy_forward_client %s;
    server { listen 127.0.0.1:%d; protocol imap; }
    server { listen 127.0.0.1:%d; protocol pop3; }
}
`, dir, auth.Addr, on, imap, pop3))
		p.waitPort(t, fmt.Sprintf("127.0.0.1:%d", imap))
		p.waitPort(t, fmt.Sprintf("127.0.0.1:%d", pop3))
		login := func(port int, greeting string, steps ...string) {
			t.Helper()
			dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 7)}, Timeout: ioWait}
			nc, err := dl.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			c := &client{t: t, c: nc, r: bufio.NewReaderSize(nc, 64<<10)}
			c.expect(greeting)
			for i := 0; i+1 < len(steps); i += 2 {
				c.send(steps[i])
				if !strings.HasPrefix(c.line(), steps[i+1]) {
					t.Fatalf("after %q: %v", steps[i], c.seen)
				}
			}
		}
		login(imap, "* OK IMAP4 ready", "a1 LOGIN "+dovecotUser+" "+dovecotPass+"\r\n", "a1 OK", "a2 LOGOUT\r\n", "* BYE")
		login(pop3, "+OK POP3 ready", "USER "+dovecotUser+"\r\n", "+OK", "PASS "+dovecotPass+"\r\n", "+OK", "QUIT\r\n", "+OK")
		var im, po string
		waitFor(t, 10*time.Second, func() bool {
			data, _ := os.ReadFile(d.dir + "/dovecot.log")
			im, po = "", ""
			for _, l := range strings.Split(string(data), "\n") {
				if strings.Contains(l, "imap-login: Info: Login: user=<"+dovecotUser+">") {
					im = l
				}
				if strings.Contains(l, "pop3-login: Info: Login: user=<"+dovecotUser+">") {
					po = l
				}
			}
			return im != "" && po != ""
		}, func() string {
			data, _ := os.ReadFile(d.dir + "/dovecot.log")
			return "Dovecot's login lines:\n" + string(data)
		})
		_ = os.Truncate(d.dir+"/dovecot.log", 0)
		return im, po
	}
	im, po := f(false)
	if !strings.Contains(im, "rip=127.0.0.1,") || !strings.Contains(po, "rip=127.0.0.1,") {
		t.Fatalf("without proxy_forward_client Dovecot should see mailproxy's address:\n%s\n%s", im, po)
	}
	im, po = f(true)
	if !strings.Contains(im, "rip=127.0.0.7,") {
		t.Fatalf("IMAP: Dovecot does not log the client's address:\n%s", im)
	}
	if !strings.Contains(po, "rip=127.0.0.7,") {
		t.Fatalf("POP3: Dovecot does not log the client's address:\n%s", po)
	}
	if !strings.Contains(im, "session=<mp") {
		t.Errorf("IMAP: Dovecot did not take x-session-id:\n%s", im)
	}
}

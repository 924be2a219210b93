package e2e

import (
	"fmt"
	"testing"
)

// Harness: Python imaplib/poplib/smtplib clients (python3 from Debian) that
// drive mailproxy the way a user's script does.

// imapPy runs testdata/imap_client.py against port.
func imapPy(t testing.TB, port int, user, pass string) string {
	t.Helper()
	return runTool(t, "python3", "testdata/imap_client.py", "127.0.0.1", fmt.Sprint(port), user, pass)
}

// pop3PyClient is a Python poplib client: argv host port user pass mode,
// mode one of user (USER/PASS), apop, plain (AUTH PLAIN with an initial
// response). It prints one "key: value" line per step.
const pop3PyClient = `
import base64, poplib, sys
host, port, user, pw, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
p = poplib.POP3(host, port, timeout=20)
print("greeting:", p.getwelcome().decode())
print("capa:", " ".join(sorted(p.capa().keys())))
try:
    if mode == "apop":
        r = p.apop(user, pw)
    elif mode == "plain":
        r = p._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode())
    else:
        p.user(user)
        r = p.pass_(pw)
except poplib.error_proto as e:
    print("login-error:", e.args[0].decode())
    sys.exit(0)
print("login:", r.decode())
print("stat:", p.stat()[0])
for line in p.retr(1)[1]:
    if line.startswith(b"Subject:"):
        print("subject:", line.decode()[9:])
print("quit:", p.quit().decode())
`

// pop3Py runs pop3PyClient against port.
func pop3Py(t testing.TB, port int, user, pass, mode string) string {
	t.Helper()
	return runTool(t, "python3", "-c", pop3PyClient, "127.0.0.1", fmt.Sprint(port), user, pass, mode)
}

// smtpPyClient is a Python smtplib client: argv host port source-ip user
// pass from to subject; user "" skips AUTH. It prints the server's replies.
const smtpPyClient = `
import smtplib, sys
host, port, src, user, pw, frm, to, subj = sys.argv[1:9]
s = smtplib.SMTP(host, int(port), local_hostname="smtplib.client", source_address=(src, 0), timeout=20)
print("ehlo:", s.ehlo()[0])
if user:
    print("login:", s.login(user, pw)[0])
msg = "From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\nsent by smtplib\r\n" % (frm, to, subj)
print("refused:", s.sendmail(frm, [to], msg))
print("quit:", s.quit()[0])
`

// ppImapPy is imaplib from a chosen source address: login, select, fetch
// message 1, logout; it prints its own source port first.
const ppImapPy = `
import imaplib, socket, sys
host, port, user, pw, src = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
socket.setdefaulttimeout(20)
class FromSource(imaplib.IMAP4):
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(src, 0))
m = FromSource(host, port)
print("source-port:", m.sock.getsockname()[1])
print("greeting:", m.welcome.decode())
typ, data = m.login(user, pw)
print("login:", typ)
typ, data = m.select("INBOX")
print("select:", typ, data[0].decode())
typ, data = m.fetch("1", "(RFC822)")
for line in data[0][1].decode().splitlines():
    if line.startswith("Subject:"):
        print("subject:", line[len("Subject:"):].strip())
typ, data = m.logout()
print("logout:", typ)
`

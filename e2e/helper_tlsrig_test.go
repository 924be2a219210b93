package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// Harness: the IMAP/POP3/SMTP rigs with TLS listeners, and the rig behind
// the real-client TLS tests (Dovecot for IMAP/POP3, the fake SMTP backend).

// tlsIMAPRig is newIMAPRig with TLS directives and listen options.
func tlsIMAPRig(t testing.TB, ts *tlsSetup, listenOpts, extra string) *imapRig {
	t.Helper()
	r := &imapRig{}
	r.be = startBackend(t, backendOpts{})
	r.auth = startAuth(t, userAuth(r.be.Port))
	r.port = freePort(t)
	r.p = startProxy(t, tlsProtoConf(t, "imap", r.auth.Addr, r.port, listenOpts, ts.directives(extra)))
	return r
}

func (r *imapRig) tlsAddr() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func tlsPOP3Rig(t testing.TB, ts *tlsSetup, listenOpts, extra string) *pop3Rig {
	t.Helper()
	r := &pop3Rig{}
	r.be = startPOP3Backend(t)
	r.auth = startAuth(t, pop3Auth(r.be.Port))
	r.port = freePort(t)
	r.p = startProxy(t, tlsProtoConf(t, "pop3", r.auth.Addr, r.port, listenOpts, ts.directives(extra)))
	return r
}

func tlsSMTPRig(t testing.TB, ts *tlsSetup, listenOpts, extra string) *smtpRig {
	t.Helper()
	r := &smtpRig{}
	r.be = startSMTPBackend(t)
	r.auth = startAuth(t, pop3Auth(r.be.Port))
	r.port = freePort(t)
	r.p = startProxy(t, tlsProtoConf(t, "smtp", r.auth.Addr, r.port, listenOpts, ts.directives(extra)))
	return r
}

// tlsRealRig is one mailproxy with six listeners: IMAP, POP3 and SMTP,
// each implicit and with starttls on.
type tlsRealRig struct {
	ts                       *tlsSetup
	imaps, imap, pop3s, pop3 int
	smtps, smtp              int
	auth                     *authServer
	smtpBackend              *smtpBackend
}

func newTLSRealRig(t *testing.T) *tlsRealRig {
	t.Helper()
	d := startDovecot(t)
	r := &tlsRealRig{ts: newTLSSetup(t), smtpBackend: startSMTPBackend(t)}
	r.auth = startAuth(t, func(q *authReq) string {
		if q.get("Auth-SSL") != "on" {
			return authFail("TLS required", 0)
		}
		switch q.get("Auth-Protocol") {
		case "smtp":
			return authOK(r.smtpBackend.Port)
		case "pop3":
			if q.get("Auth-User") == dovecotUser && q.get("Auth-Pass") == dovecotPass {
				return authOK(d.POP3Port)
			}
		default:
			if q.get("Auth-User") == dovecotUser && q.get("Auth-Pass") == dovecotPass {
				return authOK(d.IMAPPort)
			}
		}
		return authFail("Invalid login or password", 0)
	})
	ports := make([]int, 6)
	for i := range ports {
		ports[i] = freePort(t)
	}
	r.imaps, r.imap, r.pop3s, r.pop3, r.smtps, r.smtp = ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	dir := t.TempDir()
	var servers strings.Builder
	for i, proto := range []string{"imap", "imap", "pop3", "pop3", "smtp", "smtp"} {
		opts := "ssl"
		if i%2 == 1 {
			opts = ""
		}
		fmt.Fprintf(&servers, "    server {\n        listen 127.0.0.1:%d %s;\n        protocol %s;\n    }\n", ports[i], opts, proto)
	}
	conf := fmt.Sprintf(`worker_processes 2;
error_log %s/error.log info;
pid %s/mailproxy.pid;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
    starttls on;
    ssl_certificate %s;
    ssl_certificate_key %s;
    smtp_auth plain login;
    smtp_capabilities "SIZE 10485760" 8BITMIME;
    pop3_capabilities TOP USER UIDL;
%s}
`, dir, dir, r.auth.Addr, r.ts.cert, r.ts.key, servers.String())
	startProxy(t, conf)
	return r
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Encrypted PKCS#8 keys (issue 12, item 3): what `openssl genrsa -aes128`
// and `openssl genpkey -aes256` write with OpenSSL 3 load with the
// passphrases of ssl_password_file, tried in turn; a file without the right
// one, or no file, fails as nginx 1.22 fails on the same config.

// pkcs8Pair makes an encrypted key with openssl (gen: the command and its
// options, "-out" is added) and a self-signed certificate for mx.test over
// it, as an operator would. With -traditional the key is a legacy
// encrypted PEM key ("Proc-Type: 4,ENCRYPTED") instead.
func pkcs8Pair(t *testing.T, dir, name, pass string, gen ...string) (cert, key string) {
	t.Helper()
	key = filepath.Join(dir, name+".key")
	cert = filepath.Join(dir, name+".crt")
	tlsRun(t, "", "openssl", append([]string{gen[0], "-out", key}, gen[1:]...)...)
	if b, err := os.ReadFile(key); err != nil || !strings.Contains(string(b), "ENCRYPTED") {
		t.Fatalf("openssl %s did not write an encrypted key (%v):\n%s", strings.Join(gen, " "), err, b)
	}
	tlsRun(t, "", "openssl", "req", "-new", "-x509", "-key", key, "-passin", "pass:"+pass, "-subj", "/CN=mx.test",
		"-addext", "subjectAltName=DNS:mx.test", "-days", "2", "-out", cert)
	return cert, key
}

// pkcs8Conf is a config with one IMAP server over implicit TLS per pair
// (cert, key, cert, key...) on ports, and extra inside mail{}.
func pkcs8Conf(t *testing.T, authAddr string, ports []int, extra string, pairs ...string) string {
	t.Helper()
	dir := t.TempDir()
	var servers strings.Builder
	for i, port := range ports {
		fmt.Fprintf(&servers, "    server {\n        listen 127.0.0.1:%d ssl;\n        protocol imap;\n        ssl_certificate %s;\n        ssl_certificate_key %s;\n    }\n",
			port, pairs[2*i], pairs[2*i+1])
	}
	return fmt.Sprintf(`worker_processes 1;
error_log %s/error.log info;
pid %s/mailproxy.pid;
events {}
mail {
    server_name mx.test;
    auth_http %s/auth;
%s
%s}
`, dir, dir, authAddr, indent(extra, "    "), servers.String())
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSPKCS8KeysLoadWithPasswordFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rsaCert, rsaKey := pkcs8Pair(t, dir, "rsa", "rsa pass", "genrsa", "-aes128", "-passout", "pass:rsa pass", "2048")
	ecCert, ecKey := pkcs8Pair(t, dir, "ec", "ec-pass", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:ec-pass")
	// Wrong first: each key is decrypted by a later line, as nginx tries
	// them in turn.
	pass := writeFile(t, filepath.Join(dir, "pass"), "wrong\nrsa pass\nec-pass\n")

	be := startBackend(t, backendOpts{})
	auth := startAuth(t, userAuth(be.Port))
	ports := []int{freePort(t), freePort(t)}
	startProxy(t, pkcs8Conf(t, auth.Addr, ports, "ssl_password_file "+pass+";", rsaCert, rsaKey, ecCert, ecKey))

	for i, cert := range []string{rsaCert, ecCert} {
		// The client trusts only this server's certificate, so a served
		// handshake proves the key decrypted is the one of the pair.
		out := tlsRun(t, "a1 LOGIN user pass\r\na2 LOGOUT\r\n", "openssl", "s_client", "-connect", fmt.Sprintf("127.0.0.1:%d", ports[i]),
			"-CAfile", cert, "-verify_return_error", "-servername", "mx.test", "-quiet")
		for _, w := range []string{"* OK IMAP4 ready", "a1 OK", "a2 OK"} {
			if !strings.Contains(out, w) {
				t.Fatalf("%s: lacks %q:\n%s", cert, w, out)
			}
		}
	}
}

// nginxTestLine runs `nginx -t` on conf (with the mail module loaded) in a
// new session, so that OpenSSL finds no terminal to ask a passphrase on, as
// under systemd, and returns the text of its line that contains marker.
func nginxTestLine(t *testing.T, conf, marker string) string {
	t.Helper()
	bin := needNginx(t)
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "nginx.conf"), "load_module "+nginxModule+";\n"+conf)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-t", "-p", dir+"/", "-c", path, "-e", filepath.Join(dir, "error.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("nginx -t passed:\n%s", out)
	}
	return pkcs8Line(t, "nginx -t", string(out), marker)
}

// pkcs8Line returns what follows marker's start on the line of out that
// holds it: the message without the timestamp, pid or program name.
func pkcs8Line(t *testing.T, who, out, marker string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, marker); i >= 0 {
			return strings.TrimRight(l[i:], "\r")
		}
	}
	t.Fatalf("%s: no line with %q:\n%s", who, marker, out)
	return ""
}

// nginx 1.22 with OpenSSL 3.0, for an encrypted PKCS#8 key whose passphrase
// is not in ssl_password_file (the OpenSSL error queue holds the same
// entries twice whatever the number of passphrases tried) and for one with
// no ssl_password_file and no terminal; and for a legacy encrypted PEM key
// whose passphrase is not in the file or that has no file.
const (
	pkcs8WrongPassword  = `PEM_read_bio_PrivateKey() failed (SSL: error:1C800064:Provider routines::bad decrypt error:11800074:PKCS12 routines::pkcs12 cipherfinal error:maybe wrong password error:1C800064:Provider routines::bad decrypt error:11800074:PKCS12 routines::pkcs12 cipherfinal error:maybe wrong password)`
	legacyWrongPassword = `PEM_read_bio_PrivateKey() failed (SSL: error:1C800064:Provider routines::bad decrypt error:04800065:PEM routines::bad decrypt)`
	legacyNoPassword    = `PEM_read_bio_PrivateKey() failed (SSL: error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:07880109:common libcrypto routines::interrupted or cancelled error:04800068:PEM routines::bad password read)`
	pkcs8NoPassword     = `PEM_read_bio_PrivateKey() failed (SSL: error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:07880109:common libcrypto routines::interrupted or cancelled error:1C80009F:Provider routines::unable to get passphrase error:1400006B:UI routines::processing error:while reading strings error:0480006D:PEM routines::problems getting password error:07880109:common libcrypto routines::interrupted or cancelled error:04800068:PEM routines::bad password read)`
)

func TestTLSPKCS8WrongPasswordFailsAsNginx(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ecCert, ecKey := pkcs8Pair(t, dir, "ec", "right", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:right")
	rsaCert, rsaKey := pkcs8Pair(t, dir, "rsa", "right", "genrsa", "-aes128", "-passout", "pass:right", "2048")
	wrong := writeFile(t, filepath.Join(dir, "wrong.pass"), "wrong\nRIGHT\nright \n")

	// f checks that mailproxy -t and nginx -t refuse conf with the same
	// message for key, and that it is want.
	f := func(key, extra, want string, pairs ...string) {
		t.Helper()
		conf := pkcs8Conf(t, "127.0.0.1:9", []int{freePort(t)}, extra, pairs...)
		out, code := runProxyTest(t, writeConf(t, conf))
		marker := fmt.Sprintf(`cannot load certificate key "%s": `, key)
		got := pkcs8Line(t, "mailproxy -t", out, "[emerg] "+marker)
		if code != 1 || got != "[emerg] "+marker+want {
			t.Fatalf("mailproxy -t exit %d, line\n%s\nwant\n[emerg] %s%s", code, got, marker, want)
		}
		if ng := nginxTestLine(t, conf, marker); ng != marker+want {
			t.Fatalf("nginx -t says\n%s\nwant\n%s%s", ng, marker, want)
		}
	}
	f(ecKey, "ssl_password_file "+wrong+";", pkcs8WrongPassword, ecCert, ecKey)
	f(rsaKey, "ssl_password_file "+wrong+";", pkcs8WrongPassword, rsaCert, rsaKey)
	f(ecKey, "", pkcs8NoPassword, ecCert, ecKey)

	// The legacy form keeps working, with nginx's wording too.
	oldCert, oldKey := pkcs8Pair(t, dir, "legacy", "right", "genrsa", "-traditional", "-aes128", "-passout", "pass:right", "2048")
	f(oldKey, "ssl_password_file "+wrong+";", legacyWrongPassword, oldCert, oldKey)
	f(oldKey, "", legacyNoPassword, oldCert, oldKey)
}

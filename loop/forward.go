package loop

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"strconv"
)

// proxy_forward_client (a mailproxy extension): before logging in, tell a
// trusted IMAP or POP3 backend who the client is, the way Dovecot's own
// proxy does, so that the backend logs and limits the real client rather
// than mailproxy: IMAP `ID` with Dovecot's forwarding fields
// (x-originating-ip/port, x-connected-ip/port, x-session-id, x-proxy-ttl)
// and POP3 `XCLIENT ADDR= PORT= SESSION= TTL= DESTADDR= DESTPORT=`. The
// backend must trust mailproxy's address for them (Dovecot:
// login_trusted_networks); a backend that refuses them is logged in all
// the same. SMTP has nginx's xclient already.

// forwardTTL is the loop-prevention hop count sent (x-proxy-ttl, TTL=):
// Dovecot's proxies start at 5.
const forwardTTL = "5"

// sessionPrefix makes x-session-id unique across instances and restarts.
var sessionPrefix = func() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "mp" + hex.EncodeToString(b[:])
}()

// forwardIdentity is what the backend is told: the client's address (after
// realip) and the address it connected to.
func (s *session) forwardIdentity() (clientIP string, clientPort int, connIP string, connPort int, id string) {
	id = sessionPrefix + "-" + strconv.FormatUint(s.id, 10)
	if s.pp != nil && s.pp.has && s.ppTrusted() {
		return s.clientIP, s.clientPort, s.pp.dst.Addr().String(), int(s.pp.dst.Port()), id
	}
	if s.client != nil {
		if la, ok := s.client.LocalAddr().(*net.TCPAddr); ok {
			ap := la.AddrPort()
			return s.clientIP, s.clientPort, ap.Addr().Unmap().String(), int(ap.Port()), id
		}
	}
	return s.clientIP, s.clientPort, "", 0, id
}

// imapForwardCmd is the IMAP ID command with the forwarding fields,
// under the internal tag "mpid".
func (s *session) imapForwardCmd(b []byte) []byte {
	ip, port, cip, cport, id := s.forwardIdentity()
	b = append(b, `mpid ID ("x-originating-ip" "`...)
	b = append(b, ip...)
	b = append(b, `" "x-originating-port" "`...)
	b = strconv.AppendInt(b, int64(port), 10)
	if cip != "" {
		b = append(b, `" "x-connected-ip" "`...)
		b = append(b, cip...)
		b = append(b, `" "x-connected-port" "`...)
		b = strconv.AppendInt(b, int64(cport), 10)
	}
	b = append(b, `" "x-session-id" "`...)
	b = append(b, id...)
	b = append(b, `" "x-proxy-ttl" "`...)
	b = append(b, forwardTTL...)
	return append(b, "\")\r\n"...)
}

// pop3ForwardCmd is POP3 XCLIENT with the same fields.
func (s *session) pop3ForwardCmd(b []byte) []byte {
	ip, port, cip, cport, id := s.forwardIdentity()
	b = append(b, "XCLIENT ADDR="...)
	b = append(b, ip...)
	b = append(b, " PORT="...)
	b = strconv.AppendInt(b, int64(port), 10)
	b = append(b, " SESSION="...)
	b = append(b, id...)
	b = append(b, " TTL="...)
	b = append(b, forwardTTL...)
	if cip != "" {
		b = append(b, " DESTADDR="...)
		b = append(b, cip...)
		b = append(b, " DESTPORT="...)
		b = strconv.AppendInt(b, int64(cport), 10)
	}
	return append(b, "\r\n"...)
}

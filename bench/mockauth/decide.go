package mockauth

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
)

// authVerdict is the outcome of one request.
type authVerdict uint8

const (
	authFail     authVerdict = iota // wrong password: failure text + Auth-Wait
	authOK                          // backend address, no Auth-Pass
	authOKPass                      // backend address plus Auth-Pass
	authInternal                    // protocol has no backend configured
)

// decide checks the credentials in q. For authOKPass it returns the plain
// password to send back.
func (s *Server) decide(q *authRequest) (authVerdict, string) {
	if s.backendIndex(q.protocol) < 0 {
		return authInternal, ""
	}
	cands := s.candidates(q.user)
	switch string(q.method) {
	case "none":
		return authOK, ""
	case "plain", "":
		if cands == nil {
			return authOK, ""
		}
		for _, p := range cands {
			if p == string(q.pass) {
				return authOK, ""
			}
		}
	case "apop":
		for _, p := range cands {
			sum := md5.Sum(append(append([]byte(nil), q.salt...), p...))
			if hex.EncodeToString(sum[:]) == string(q.pass) {
				return authOKPass, p
			}
		}
	case "cram-md5":
		for _, p := range cands {
			m := hmac.New(md5.New, []byte(p))
			m.Write(q.salt)
			if hex.EncodeToString(m.Sum(nil)) == string(q.pass) {
				return authOKPass, p
			}
		}
	case "external":
		if len(cands) > 0 {
			return authOKPass, cands[0]
		}
		return authOKPass, "external"
	}
	return authFail, ""
}

// candidates returns the passwords accepted for user: its own entry in
// Users, else Passwords; nil means any password is accepted.
func (s *Server) candidates(user []byte) []string {
	if p, ok := s.cfg.Users[string(user)]; ok {
		return []string{p}
	}
	if len(s.cfg.Passwords) == 0 && len(s.cfg.Users) == 0 {
		return nil
	}
	if len(s.cfg.Passwords) == 0 {
		return []string{} // users file only: unknown users fail
	}
	return s.cfg.Passwords
}

// backendIndex maps an Auth-Protocol value to an index in s.replies.
func (s *Server) backendIndex(proto []byte) int {
	for i, name := range authProtocols {
		if string(proto) == name {
			if s.replies[i].server == "" {
				return -1
			}
			return i
		}
	}
	return -1
}

var authProtocols = [...]string{"imap", "pop3", "smtp"}

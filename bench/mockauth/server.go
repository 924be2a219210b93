package mockauth

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"mailproxy/bench/internal/netsrv"
)

// Config describes the mock's decisions. The zero value accepts any login
// but has no backend, so every request gets a temporary failure.
type Config struct {
	Passwords []string          // accepted for any user not in Users
	Users     map[string]string // user → password
	Backends  map[string]string // "imap", "pop3", "smtp" → "ip:port"
	Wait      int               // Auth-Wait seconds sent with a failure
	FailText  string            // Auth-Status of a failure; default "Invalid login or password"
}

// Stats are the server's counters since start.
type Stats struct {
	Accepts  uint64 `json:"accepts"`  // TCP connections accepted
	Requests uint64 `json:"requests"` // auth requests answered (not /stats)
	OK       uint64 `json:"ok"`
	Failed   uint64 `json:"failed"`   // wrong password
	Internal uint64 `json:"internal"` // no backend for the protocol
	Bad      uint64 `json:"bad"`      // unparsable requests
}

// String renders the counters in one line, for logs.
func (s Stats) String() string {
	return fmt.Sprintf("accepts=%d requests=%d ok=%d failed=%d internal=%d bad=%d",
		s.Accepts, s.Requests, s.OK, s.Failed, s.Internal, s.Bad)
}

// Server is a mock auth_http server. Its methods are safe for concurrent use.
type Server struct {
	cfg      Config
	replies  [len(authProtocols)]authReplies
	fail     [2][2][]byte
	internal [2][2][]byte

	requests, ok, failed, internalN, bad atomic.Uint64

	conns netsrv.Group
}

// New checks cfg and pre-builds the replies.
func New(cfg Config) (*Server, error) {
	if cfg.FailText == "" {
		cfg.FailText = "Invalid login or password"
	}
	s := &Server{cfg: cfg}
	for i, name := range authProtocols {
		addr := cfg.Backends[name]
		if addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("mockauth: %s backend %q: %w", name, addr, err)
		}
		if net.ParseIP(host) == nil {
			return nil, fmt.Errorf("mockauth: %s backend %q: Auth-Server must be an IP literal", name, addr)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("mockauth: %s backend %q: bad port", name, addr)
		}
		s.replies[i] = newAuthReplies(host, port)
	}
	s.fail = failReplies(cfg.FailText, cfg.Wait)
	s.internal = internalReplies()
	return s, nil
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Accepts: s.conns.Accepts.Load(), Requests: s.requests.Load(), OK: s.ok.Load(),
		Failed: s.failed.Load(), Internal: s.internalN.Load(), Bad: s.bad.Load(),
	}
}

// Serve accepts connections on ln until ln is closed or Close is called.
func (s *Server) Serve(ln net.Listener) error { return s.conns.Serve(ln, s.serveConn) }

// Close stops all listeners and connections.
func (s *Server) Close() error { return s.conns.Close() }

var authBufPool = sync.Pool{New: func() any {
	return &authConnBufs{r: bufio.NewReaderSize(nil, authReqMax), w: bufio.NewWriterSize(nil, 2048)}
}}

type authConnBufs struct {
	r   *bufio.Reader
	w   *bufio.Writer
	q   authRequest
	out []byte
}

func (s *Server) serveConn(c net.Conn) {
	b := authBufPool.Get().(*authConnBufs)
	b.r.Reset(c)
	b.w.Reset(c)
	defer func() {
		b.r.Reset(nil)
		b.w.Reset(nil)
		authBufPool.Put(b)
	}()
	for {
		if err := readAuthRequest(b.r, &b.q); err != nil {
			if err == errBadRequest {
				s.bad.Add(1)
				b.w.WriteString("HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
				b.w.Flush()
			}
			return
		}
		s.answer(b)
		if b.r.Buffered() == 0 || !b.q.keepAlive {
			if b.w.Flush() != nil {
				return
			}
		}
		if !b.q.keepAlive {
			return
		}
	}
}

// answer writes the response to the request in b.q.
func (s *Server) answer(b *authConnBufs) {
	q := &b.q
	h, k := b2i(q.http11), b2i(q.keepAlive)
	if q.stats {
		body, _ := json.Marshal(s.Stats())
		b.out = append(b.out[:0], authStatusLine(q.http11)...)
		b.out = append(b.out, "Content-Type: application/json\r\nContent-Length: "...)
		b.out = strconv.AppendInt(b.out, int64(len(body)+1), 10)
		if !q.keepAlive {
			b.out = append(b.out, "\r\nConnection: close"...)
		}
		b.out = append(b.out, "\r\n\r\n"...)
		b.out = append(b.out, body...)
		b.out = append(b.out, '\n')
		b.w.Write(b.out)
		return
	}
	s.requests.Add(1)
	v, pass := s.decide(q)
	switch v {
	case authOK:
		s.ok.Add(1)
		b.w.Write(s.replies[s.backendIndex(q.protocol)].ok[h][k])
	case authOKPass:
		s.ok.Add(1)
		b.out = appendOKPass(b.out[:0], &s.replies[s.backendIndex(q.protocol)], q, pass)
		b.w.Write(b.out)
	case authFail:
		s.failed.Add(1)
		b.w.Write(s.fail[h][k])
	default:
		s.internalN.Add(1)
		b.w.Write(s.internal[h][k])
	}
}

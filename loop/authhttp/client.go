package authhttp

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"mailproxy/codec"
	"mailproxy/config"
)

// Client talks to one auth_http endpoint (Addr+Host+URI). It is safe
// for concurrent use; Do blocks, so mailproxy calls it from its worker
// pool only, never on an event loop.
//
// The request is nginx's, header for header (codec.AppendAuthHeaders),
// except for the request line: nginx sends "GET <uri> HTTP/1.0" on a new
// connection per attempt and closes it after the headers (reference §2.1,
// weak point §8.1). Client sends HTTP/1.1 and keeps connections alive
// in a pool, so a busy edge does not open one TCP connection per login.
// Auth servers that answer HTTP/1.0 or "Connection: close" just get a new
// connection per call, as with nginx.
//
// The answer is judged by nginx's rules, on the raw bytes the server sent
// (codec.ParseAuthResponse: optional status line, strict header names,
// 1024-byte cap), not by fasthttp's: authConn records what was read, and
// lends fasthttp a status line when the server sent none.
type Client struct {
	addr string // "host:port" or "unix:/path", also the peer name in errors
	host string
	uri  string
	hc   *fasthttp.HostClient
	tls  *tls.Config // https://: the handshake is authDialRaw's, under the recording
	res  *authAddrs  // a host name: its addresses, re-resolved (resolve.go); nil for an IP or unix:

	opened atomic.Uint64
	h      health                                 // up/down and counters, for Group (group.go)
	waker  atomic.Pointer[func() (Waiter, error)] // SetWaker
}

// Transport limits. auth_http_timeout (per call) is the deadline that
// matters; these bound what it does not cover.
const (
	authConnWait     = 500 * time.Millisecond // wait for a free connection when all MaxConns are busy
	authMaxIdle      = 10 * time.Second       // below common auth-server keepalive timeouts
	authBackstop     = 10 * time.Minute       // read/write cap if a call had no deadline
	authDialFallback = 10 * time.Second       // dials fasthttp starts without a deadline
	authMaxBody      = 64 << 10               // fasthttp's body cap; a body is only read when already buffered (settle)
)

var (
	// ErrTimeout: the call did not end within its timeout
	// (auth_http_timeout); nginx logs "auth http server X timed out".
	ErrTimeout = errors.New("auth http timed out")
	// ErrClosed: the auth server closed the connection (or reset it)
	// before a whole response header block arrived.
	ErrClosed = errors.New("closed connection prematurely")
	// ErrConnect: the connection to the auth server could not be made.
	ErrConnect = errors.New("connect() failed")
	// ErrBusy: every connection to the auth server stayed busy for
	// longer than the short queueing allowance.
	ErrBusy = errors.New("has no free connection")
	// ErrTLS: the TLS handshake with an https:// auth server failed (its
	// certificate did not verify, or it does not speak TLS).
	ErrTLS = errors.New("SSL handshake failed")
	// errSilent marks an error after which no byte of an answer had
	// arrived: the server refused, reset, closed or timed out before
	// answering, so another server may be asked (Group).
	errSilent = errors.New("no answer")
)

// NewClient returns a client for the endpoint. addr is "host:port" or
// "unix:/path"; host is the Host header value; uri the request URI;
// maxConns caps open connections (≤ 0: fasthttp's default, 512).
func NewClient(addr, host, uri string, maxConns int) *Client {
	return NewTLSClient(addr, host, uri, maxConns, nil)
}

// NewTLSClient is NewClient for an https:// endpoint when tc is not nil:
// the connection is TLS with tc (its ServerName defaults to host, without
// brackets), and fasthttp is told so (IsTLS, TLSConfig), but the handshake
// is made in the dial, under authConn, so that the recording holds the
// plaintext answer: fasthttp leaves a dialed conn that has a Handshake
// method as it is instead of wrapping it in its own tls.Client.
func NewTLSClient(addr, host, uri string, maxConns int, tc *tls.Config) *Client {
	if uri == "" {
		uri = "/"
	}
	if host == "" {
		host = "localhost" // as nginx for unix:; fasthttp needs one
	}
	c := &Client{addr: addr, host: host, uri: uri, res: newAuthAddrs(addr)}
	if tc != nil {
		c.tls = tc.Clone()
		if c.tls.ServerName == "" {
			c.tls.ServerName = strings.Trim(host, "[]")
		}
	}
	c.hc = &fasthttp.HostClient{
		Addr:                          addr,
		DialTimeout:                   c.authDial,
		MaxConns:                      maxConns,
		MaxConnWaitTimeout:            authConnWait,
		MaxIdleConnDuration:           authMaxIdle,
		MaxIdemponentCallAttempts:     2, // one retry, for a stale keepalive connection only
		RetryIfErr:                    authRetryIfErr,
		ReadTimeout:                   authBackstop,
		WriteTimeout:                  authBackstop,
		MaxResponseBodySize:           authMaxBody,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		SecureErrorLogMessage:         true,
		// Streaming keeps the connection ours until the body is closed, so
		// the raw bytes recorded on it belong to this call (authConn).
		StreamResponseBody: true,
		IsTLS:              c.tls != nil,
		TLSConfig:          c.tls,
	}
	return c
}

// SetResolver sets the DNS side of the client's host-name lookups
// (lookup.go): the resolver directive of its server{} block. Without it,
// /etc/resolv.conf's name servers are asked. Call it before the first Do;
// a client for an IP address or a unix socket has nothing to look up and
// ignores it.
func (c *Client) SetResolver(r Resolver) {
	if c.res != nil {
		c.res.lookup = newNameLookup(r).lookup
	}
}

// Addr is the endpoint as it appears in log lines and metrics.
func (c *Client) Addr() string { return c.addr }

// ConnsOpened returns how many connections were dialed so far; with
// keepalive it stays far below the number of calls.
func (c *Client) ConnsOpened() uint64 { return c.opened.Load() }

// Close closes the idle connections. Calls in flight finish normally.
func (c *Client) Close() {
	c.hc.CloseIdleConnections()
}

var authBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Do sends one auth_http request for r (plus the auth_http_header lines
// extra) and parses the answer into out. The whole call (waiting for a
// connection, connect, send, response headers, and one retry on a stale
// keepalive connection) ends within timeout. Every error means "internal
// error" to the session; its text is nginx's log line ("auth http server
// 127.0.0.1:9000 timed out", "... sent invalid header in response", ...)
// and it wraps one of ErrTimeout, ErrConnect, ErrClosed,
// ErrBusy, codec.ErrAuthInvalidResponse, codec.ErrAuthInvalidHeader,
// codec.ErrAuthTooLarge.
func (c *Client) Do(r *codec.AuthRequest, extra []config.Header, timeout time.Duration, out *codec.AuthResponse) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	// Names go out exactly as written and in our order: Host first, then
	// nginx's lines. No User-Agent, Content-Length or Content-Type on a GET.
	req.Header.DisableNormalizing()
	req.Header.DisableSpecialHeader()
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURI(c.uri)
	if c.tls != nil {
		req.URI().SetScheme("https") // fasthttp checks it against IsTLS
	}
	req.Header.Add("Host", c.host)
	bp := authBufPool.Get().(*[]byte)
	*bp = codec.AppendAuthHeaders((*bp)[:0], r, extra)
	authAddLines(&req.Header, *bp)
	authBufPool.Put(bp)

	req.SetUserValue(authRespKey{}, resp)
	if err := c.hc.DoTimeout(req, resp, timeout); err != nil {
		e := c.authClassify(err)
		// fasthttp refused or gave up on the response; nginx may not have
		// (no status line, bare-LF lines, a name alone, a close right
		// after the headers). The conn is closed now, so its recording is
		// stable: judge it by nginx's rules.
		ac := authConnOf(resp.LocalAddr())
		if ac == nil {
			return authSilent(e)
		}
		defer ac.done()
		switch perr := ac.parse(out); {
		case perr == nil:
			return nil
		case errors.Is(perr, codec.ErrAuthInvalidResponse):
			if !ac.answered() {
				return authSilent(e)
			}
			return e // incomplete recording: keep the transport's reason
		default:
			return &authError{msg: "auth http server " + c.addr + " " + perr.Error(), errs: []error{perr, err}}
		}
	}
	ac := authConnOf(resp.LocalAddr())
	if ac == nil {
		panic("BUG: auth_http response did not come through authDial")
	}
	// Deferred in this order: the body stream closes (the connection goes
	// back to the pool, or is closed) before the turn is given back.
	defer ac.done()
	defer resp.CloseBodyStream() //nolint:errcheck // closing only returns the conn to the pool

	err := ac.parse(out)
	ac.settle(resp)
	if err != nil {
		return &authError{msg: "auth http server " + c.addr + " " + err.Error(), errs: []error{err}}
	}
	return nil
}

// authSilent marks e as an error before any byte of an answer, when it is
// one of a refused or failed connection, a close or reset, or a timeout.
// The rest (a busy pool, a too-large answer) are not the server's silence.
func authSilent(e error) error {
	ae, ok := e.(*authError)
	if !ok {
		return e
	}
	for _, s := range []error{ErrConnect, ErrClosed, ErrTimeout, ErrTLS} {
		if errors.Is(e, s) {
			ae.errs = append(ae.errs, errSilent)
			break
		}
	}
	return ae
}

// authAddLines adds "Name: value\r\n" lines to h in order.
func authAddLines(h *fasthttp.RequestHeader, b []byte) {
	for len(b) > 0 {
		end := 0
		for end < len(b) && b[end] != '\n' {
			end++
		}
		line := b[:end]
		if end < len(b) {
			b = b[end+1:]
		} else {
			b = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		colon := 0
		for colon < len(line) && line[colon] != ':' {
			colon++
		}
		if colon == len(line) {
			continue
		}
		value := line[colon+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		h.AddBytesKV(line[:colon], value)
	}
}

// authRetryIfErr retries only what a keepalive connection closed by the
// server while idle produces; fasthttp would otherwise retry GETs on any
// error (gnet-notes §7).
//
// fasthttp reports any failure to read the first response byte as a bare
// io.EOF; a truncated response wraps its error instead and is not retried.
// A write refused by a closed peer is the other stale symptom. Either only
// counts on a connection that had served a request before: a fresh one that
// the server closes at once is the server's answer, and nginx would not ask
// again. Do puts the Response in the request's user values so that the
// connection (fasthttp records it in the Response before writing) can be
// found here.
func authRetryIfErr(req *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	if resp, ok := req.UserValue(authRespKey{}).(*fasthttp.Response); ok {
		if ac := authConnOf(resp.LocalAddr()); ac != nil && !ac.reused() {
			return false, false
		}
	}
	if err == io.EOF { //nolint:errorlint // fasthttp returns it unwrapped for exactly this case
		return false, true
	}
	var op *net.OpError
	return false, errors.As(err, &op) && op.Op == "write" &&
		(errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET))
}

// authRespKey is the request user-value key under which Do leaves its
// Response for authRetryIfErr.
type authRespKey struct{}

// authError is what Do returns: nginx's log wording, and the sentinels.
type authError struct {
	msg  string
	errs []error
}

func (e *authError) Error() string   { return e.msg }
func (e *authError) Unwrap() []error { return e.errs }

// authClassify turns a fasthttp/net error into an authError.
func (c *Client) authClassify(err error) error {
	peer := "auth http server " + c.addr
	var ne net.Error
	var op *net.OpError
	var small *fasthttp.ErrSmallBuffer
	var te *authTLSError
	switch {
	case errors.As(err, &te):
		return &authError{msg: peer + " " + ErrTLS.Error() + " (" + te.err.Error() + ")", errs: []error{ErrTLS, err}}
	case errors.Is(err, fasthttp.ErrTimeout) || (errors.As(err, &ne) && ne.Timeout()):
		return &authError{msg: peer + " timed out", errs: []error{ErrTimeout, err}}
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return &authError{msg: peer + " " + ErrBusy.Error(), errs: []error{ErrBusy, err}}
	case errors.As(err, &op) && op.Op == "dial":
		return &authError{msg: peer + " " + ErrConnect.Error() + " (" + op.Err.Error() + ")", errs: []error{ErrConnect, err}}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return &authError{msg: peer + " " + ErrClosed.Error(), errs: []error{ErrClosed, err}}
	case errors.As(err, &small):
		return &authError{msg: peer + " " + codec.ErrAuthTooLarge.Error(), errs: []error{codec.ErrAuthTooLarge, err}}
	}
	// SecureErrorLogMessage keeps response contents (an Auth-Pass) out of
	// err's text, so it may be logged.
	return &authError{msg: peer + " " + codec.ErrAuthInvalidResponse.Error() + " (" + err.Error() + ")",
		errs: []error{codec.ErrAuthInvalidResponse, err}}
}

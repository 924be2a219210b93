package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// backendOpts scripts the fake IMAP backend.
type backendOpts struct {
	// Untagged is sent before the tagged reply to LOGIN, e.g.
	// "* CAPABILITY IMAP4rev1 IDLE" (nginx ≥ 1.27.3 tolerates one).
	Untagged string
	// LoginReply returns the text after "<tag> " that answers LOGIN for
	// user; nil means userBackendReply. A reply not
	// starting with "OK" closes the connection after it.
	LoginReply func(user string) string
	// FetchSize is the size of the literal a FETCH returns (default 1000).
	FetchSize int
	// Greeting replaces the backend's greeting line (default
	// "* OK fake backend ready"), e.g. "* PREAUTH ..." to test refusals.
	Greeting string
	// SlowRead makes APPEND literals be read in 16 KB pieces with a 1 ms
	// pause between pieces (a slow backend for the upload direction).
	SlowRead bool
}

// backendSession records one connection to the fake backend.
type backendSession struct {
	mu        sync.Mutex
	login     bytes.Buffer // bytes of the LOGIN dialogue, exactly as read
	user      string
	pass      string
	after     bytes.Buffer // bytes received after login (first 1 MB)
	afterN    int64        // all bytes received after login
	loginErr  string       // why the dialogue did not match nginx's
	appendSum string       // sha256 of the last APPEND literal
}

func (s *backendSession) Login() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.login.String()
}

func (s *backendSession) After() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.after.String()
}

// fakeBackend is a scripted IMAP server that expects nginx's backend login
// (reference §3.1.5): "<tag> LOGIN {n}", "+ OK", "<user> {m}", "+ OK",
// "<pass>", then the tagged OK. After login it serves:
//
//	<tag> NOOP                 -> <tag> OK NOOP completed
//	<tag> ECHO <text>          -> * ECHO <text>, <tag> OK ECHO completed
//	<tag> FETCH ...            -> * 1 FETCH (BODY[] {FetchSize} ...), <tag> OK FETCH completed
//	<tag> APPEND <box> {n[+]}  -> (+ OK) reads n bytes, <tag> OK APPEND completed sha256=<hex>
//	<tag> LOGOUT               -> * BYE ..., <tag> OK LOGOUT completed, close
//	<tag> CLOSE                -> close without a reply
//	anything else              -> <tag> BAD unknown command
type fakeBackend struct {
	Port int
	opts backendOpts
	ln   net.Listener

	mu       sync.Mutex
	sessions []*backendSession
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

const backendGreeting = "* OK fake backend ready\r\n"

func startBackend(t testing.TB, opts backendOpts) *fakeBackend {
	t.Helper()
	if opts.FetchSize == 0 {
		opts.FetchSize = 1000
	}
	if opts.LoginReply == nil {
		opts.LoginReply = userBackendReply
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{Port: ln.Addr().(*net.TCPAddr).Port, opts: opts, ln: ln, conns: map[net.Conn]bool{}}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// session returns the i-th connection's record, failing when there is none.
func (b *fakeBackend) session(t testing.TB, i int) *backendSession {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if i >= len(b.sessions) {
		t.Fatalf("backend has %d sessions, want session %d", len(b.sessions), i)
	}
	return b.sessions[i]
}

func (b *fakeBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

func (b *fakeBackend) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		s := &backendSession{}
		b.mu.Lock()
		b.sessions = append(b.sessions, s)
		b.conns[c] = true
		b.wg.Add(1)
		b.mu.Unlock()
		go func() {
			defer b.wg.Done()
			b.serve(c, s)
			c.Close()
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
		}()
	}
}

var (
	backendLoginRe = regexp.MustCompile(`^([A-Za-z0-9._-]+) LOGIN \{(\d+)\}\r\n$`)
	backendUserRe  = regexp.MustCompile(`^ \{(\d+)\}\r\n$`)
	backendCmdRe   = regexp.MustCompile(`^(\S+) (\S+)(?: (.*))?\r\n$`)
	backendLitRe   = regexp.MustCompile(`\{(\d+)(\+?)\}$`)
)

func (b *fakeBackend) serve(c net.Conn, s *backendSession) {
	r := bufio.NewReaderSize(c, 64<<10)
	fail := func(format string, args ...any) {
		s.mu.Lock()
		s.loginErr = fmt.Sprintf(format, args...)
		s.mu.Unlock()
	}
	rec := func(p string) {
		s.mu.Lock()
		s.login.WriteString(p)
		s.mu.Unlock()
	}
	greeting := backendGreeting
	if b.opts.Greeting != "" {
		greeting = b.opts.Greeting + "\r\n"
	}
	if _, err := io.WriteString(c, greeting); err != nil {
		return
	}
	if !strings.HasPrefix(greeting, "* OK") {
		// Refusing greeting: record whatever comes until the proxy hangs up.
		data, _ := io.ReadAll(io.LimitReader(c, 1<<20))
		rec(string(data))
		return
	}
	line, err := r.ReadString('\n')
	rec(line)
	m := backendLoginRe.FindStringSubmatch(line)
	if err != nil || m == nil {
		fail("first line %q is not <tag> LOGIN {n}", line)
		return
	}
	tag := m[1]
	if _, err := io.WriteString(c, "+ OK\r\n"); err != nil {
		return
	}
	user, ok := backendLiteral(r, m[2], rec)
	if !ok {
		fail("short user literal")
		return
	}
	line, err = r.ReadString('\n')
	rec(line)
	m = backendUserRe.FindStringSubmatch(line)
	if err != nil || m == nil {
		fail("after user %q: %q is not \" {n}\"", user, line)
		return
	}
	if _, err := io.WriteString(c, "+ OK\r\n"); err != nil {
		return
	}
	pass, ok := backendLiteral(r, m[1], rec)
	if !ok {
		fail("short password literal")
		return
	}
	crlf := make([]byte, 2)
	if _, err := io.ReadFull(r, crlf); err != nil || string(crlf) != "\r\n" {
		rec(string(crlf))
		fail("password literal not followed by CRLF")
		return
	}
	rec("\r\n")
	s.mu.Lock()
	s.user, s.pass = user, pass
	s.mu.Unlock()
	reply := b.opts.LoginReply(user)
	out := ""
	if b.opts.Untagged != "" {
		out += b.opts.Untagged + "\r\n"
	}
	out += tag + " " + reply + "\r\n"
	if _, err := io.WriteString(c, out); err != nil || !strings.HasPrefix(reply, "OK") {
		return
	}
	b.relay(c, r, s)
}

// backendLiteral reads a literal of the decimal size n.
func backendLiteral(r *bufio.Reader, n string, rec func(string)) (string, bool) {
	size, err := strconv.Atoi(n)
	if err != nil || size > 1<<20 {
		return "", false
	}
	buf := make([]byte, size)
	k, err := io.ReadFull(r, buf)
	rec(string(buf[:k]))
	return string(buf), err == nil
}

func (b *fakeBackend) relay(c net.Conn, r *bufio.Reader, s *backendSession) {
	w := bufio.NewWriterSize(c, 64<<10)
	note := func(p []byte) {
		s.mu.Lock()
		s.afterN += int64(len(p))
		if s.after.Len() < 1<<20 {
			s.after.Write(p)
		}
		s.mu.Unlock()
	}
	for {
		line, err := r.ReadString('\n')
		note([]byte(line))
		if err != nil {
			return
		}
		m := backendCmdRe.FindStringSubmatch(line)
		if m == nil {
			fmt.Fprintf(w, "* BAD unparsable line\r\n")
			if w.Flush() != nil {
				return
			}
			continue
		}
		tag, cmd, arg := m[1], strings.ToUpper(m[2]), m[3]
		switch cmd {
		case "NOOP":
			fmt.Fprintf(w, "%s OK NOOP completed\r\n", tag)
		case "ECHO":
			fmt.Fprintf(w, "* ECHO %s\r\n%s OK ECHO completed\r\n", arg, tag)
		case "FETCH":
			fmt.Fprintf(w, "* 1 FETCH (BODY[] {%d}\r\n", b.opts.FetchSize)
			if err := writePattern(w, int64(b.opts.FetchSize)); err != nil {
				return
			}
			fmt.Fprintf(w, ")\r\n%s OK FETCH completed\r\n", tag)
		case "APPEND":
			lm := backendLitRe.FindStringSubmatch(arg)
			if lm == nil {
				fmt.Fprintf(w, "%s BAD APPEND needs a literal\r\n", tag)
				break
			}
			n, _ := strconv.ParseInt(lm[1], 10, 64)
			if lm[2] == "" {
				fmt.Fprintf(w, "+ OK\r\n")
				if w.Flush() != nil {
					return
				}
			}
			sum, err := b.readLiteral(r, n, note)
			if err != nil {
				return
			}
			rest, err := r.ReadString('\n')
			note([]byte(rest))
			if err != nil {
				return
			}
			s.mu.Lock()
			s.appendSum = sum
			s.mu.Unlock()
			fmt.Fprintf(w, "%s OK APPEND completed sha256=%s\r\n", tag, sum)
		case "CLOSE": // the backend goes away without a word
			w.Flush()
			return
		case "LOGOUT":
			fmt.Fprintf(w, "* BYE fake backend logging out\r\n%s OK LOGOUT completed\r\n", tag)
			w.Flush()
			return
		default:
			fmt.Fprintf(w, "%s BAD unknown command\r\n", tag)
		}
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

// readLiteral consumes n bytes (slowly when SlowRead) and returns their sha256.
func (b *fakeBackend) readLiteral(r *bufio.Reader, n int64, note func([]byte)) (string, error) {
	h := sha256.New()
	buf := make([]byte, 16<<10)
	for n > 0 {
		k := int64(len(buf))
		if k > n {
			k = n
		}
		got, err := io.ReadFull(r, buf[:k])
		h.Write(buf[:got])
		s := got
		if s > 64 {
			s = 64 // record only the start of big chunks
		}
		note(buf[:s])
		if err != nil {
			return "", err
		}
		n -= int64(got)
		if b.opts.SlowRead {
			time.Sleep(time.Millisecond) // deliberate slowness, not synchronisation
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// patternBlock is the 64 KB unit of test payloads; each block's first 8
// bytes hold its index so reordered or dropped blocks change the checksum.
var patternBlock = func() []byte {
	p := make([]byte, 64<<10)
	rand.New(rand.NewSource(1)).Read(p)
	return p
}()

// writePattern writes n bytes of the test payload.
func writePattern(w io.Writer, n int64) error {
	block := make([]byte, len(patternBlock))
	for i := uint64(0); n > 0; i++ {
		copy(block, patternBlock)
		binary.BigEndian.PutUint64(block, i)
		k := int64(len(block))
		if k > n {
			k = n
		}
		if _, err := w.Write(block[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// patternSum is the sha256 of the first n payload bytes.
func patternSum(n int64) string {
	h := sha256.New()
	_ = writePattern(h, n)
	return hex.EncodeToString(h.Sum(nil))
}

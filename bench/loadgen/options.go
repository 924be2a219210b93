package loadgen

import (
	"errors"
	"time"
)

// MaxDuration bounds every run, whatever the flags say.
const MaxDuration = 30 * time.Minute

// Options configure a run; each mode reads the fields it needs.
type Options struct {
	Proto      string        // "imap", "pop3" or "smtp"
	Addr       string        // target host:port (the proxy)
	User, Pass string        // login credentials
	Conc       int           // workers (login, relay) or parallel openers (idle)
	Rate       float64       // login: sessions/s for open loop; 0 = closed loop
	Count      int           // login: sessions; relay: messages; 0 = until Duration
	Duration   time.Duration // bound on the run (idle: on the opening phase)
	Timeout    time.Duration // per-connection deadline for each step; default 10s
	Sources    int           // spread source addresses over 127.0.0.2.. (0 = off)
	SrcOffset  int           // start the source addresses at 127.0.0.(2+SrcOffset)
	PIDs       []int         // roots of the process tree under test, for CPU/RSS
	MockPIDs   []int         // mock auth and backend processes, for their CPU share
	Progress   bool          // one-line progress on stderr when it is a terminal
	Size       int           // relay smtp: DATA payload bytes; default 1 MiB
	TLS        bool          // implicit TLS (IMAPS/POP3S/SMTPS ports): full handshake per connection, no resumption
	StartTLS   bool          // plaintext port, upgraded after the greeting (STARTTLS/STLS); same handshake as TLS
	Resume     bool          // with TLS or StartTLS: one client session cache for the run, so logins resume
	Conns      int           // idle: connections to open
	Login      bool          // idle: log in, so the proxy holds relayed sessions
	Hold       time.Duration // idle: wait after opening before sampling memory
}

// ErrNoWorkers: Conc must be at least 1.
var ErrNoWorkers = errors.New("loadgen: concurrency must be at least 1")

// ErrTLSAndStartTLS: a connection is either TLS from the first byte or
// upgraded after the greeting, not both.
var ErrTLSAndStartTLS = errors.New("loadgen: implicit TLS and STARTTLS are exclusive")

// ErrResumeWithoutTLS: resumption needs TLS or STARTTLS.
var ErrResumeWithoutTLS = errors.New("loadgen: -resume needs -tls or -starttls")

func (o *Options) check() error {
	if o.Resume && !o.TLS && !o.StartTLS {
		return ErrResumeWithoutTLS
	}
	if o.Conc < 1 {
		return ErrNoWorkers
	}
	if o.TLS && o.StartTLS {
		return ErrTLSAndStartTLS
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		o.Duration = min(max(o.Duration, time.Second), MaxDuration)
		if o.Duration <= time.Second {
			o.Duration = 10 * time.Second
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Size <= 0 {
		o.Size = 1 << 20
	}
	return nil
}

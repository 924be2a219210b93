package loadgen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// workerStats is what one worker measured; merged at the end of a run.
type workerStats struct {
	login, session Histogram
	ok, failed     uint64
	errs           map[string]uint64
	bytes          int64
}

func (ws *workerStats) fail(err error, c *counters) {
	ws.failed++
	c.failed.Add(1)
	if ws.errs == nil {
		ws.errs = map[string]uint64{}
	}
	var pe *PhaseError
	if errors.As(err, &pe) {
		ws.errs[pe.Error()]++
	} else {
		ws.errs["other:"+err.Error()]++
	}
}

func mergeStats(r *Report, all []workerStats, withLogin bool) (login, session Histogram, bytes int64) {
	for i := range all {
		ws := &all[i]
		login.Merge(&ws.login)
		session.Merge(&ws.session)
		r.OK += ws.ok
		r.Failed += ws.failed
		bytes += ws.bytes
		for k, v := range ws.errs {
			if r.Errors == nil {
				r.Errors = map[string]uint64{}
			}
			r.Errors[k] += v
		}
	}
	if withLogin {
		l := login.Summary()
		r.Login = &l
	}
	s := session.Summary()
	r.Session = &s
	return
}

// RunLogin loops connect → greeting [→ STARTTLS] → login → one command → logout with
// o.Conc workers until o.Duration or o.Count. With o.Rate > 0 the i-th
// session is due at start + i/Rate (open loop) and its latency is counted
// from that moment, so a server that stalls the workers is charged for the
// wait of every session it delayed.
func RunLogin(ctx context.Context, o Options) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	sc, err := newSessionConfig(&o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	deadline, _ := ctx.Deadline()

	var live counters
	stop := startProgress(o.Progress, o.Duration, "login "+o.Proto, &live)
	m := startMeter(o.PIDs, o.MockPIDs)
	var interval time.Duration
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) / o.Rate)
	}
	var issued atomic.Int64
	all := make([]workerStats, o.Conc)
	var wg sync.WaitGroup
	for w := range all {
		wg.Add(1)
		go func(ws *workerStats) {
			defer wg.Done()
			timer := time.NewTimer(time.Hour)
			timer.Stop()
			for ctx.Err() == nil {
				i := issued.Add(1) - 1
				if o.Count > 0 && i >= int64(o.Count) {
					return
				}
				begin := time.Now()
				if interval > 0 {
					begin = m.start.Add(time.Duration(i) * interval)
					if begin.After(deadline) {
						return
					}
					if wait := time.Until(begin); wait > 0 {
						timer.Reset(wait)
						select {
						case <-ctx.Done():
							return
						case <-timer.C:
						}
					}
				}
				loggedIn, err := loginSession(sc, int(i))
				if err != nil {
					ws.fail(err, &live)
					continue
				}
				ws.login.Record(loggedIn.Sub(begin))
				ws.session.Record(time.Since(begin))
				ws.ok++
				live.ok.Add(1)
			}
		}(&all[w])
	}
	wg.Wait()
	stop()
	r := &Report{Mode: "login", Proto: o.Proto, TLS: o.TLS, StartTLS: o.StartTLS, Resume: o.Resume, Target: o.Addr,
		Conc: o.Conc, Rate: o.Rate}
	sc.tlsFigures(r)
	mergeStats(r, all, true)
	m.finish(r, r.OK)
	return r, nil
}

// loginSession runs one full session and returns when the login reply came.
func loginSession(sc *sessionConfig, seq int) (time.Time, error) {
	s, err := sc.open(seq)
	if err != nil {
		return time.Time{}, err
	}
	defer s.close()
	ops := sc.ops
	if err := ops.login(s); err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	if err := ops.command(s); err != nil {
		return at, err
	}
	return at, ops.logout(s)
}

package loadgen

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// RunIdle opens o.Conns connections (after the greeting, or logged in when
// o.Login so the proxy holds a relayed session per connection), holds them
// for o.Hold, and reports the memory growth of the process tree o.PIDs per
// connection. o.Duration bounds the opening phase.
func RunIdle(ctx context.Context, o Options) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Conns < 1 {
		return nil, fmt.Errorf("loadgen: idle needs a connection count")
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && uint64(o.Conns)+64 > lim.Cur {
		return nil, fmt.Errorf("loadgen: %d connections exceed this process's open-file limit %d; "+
			"run several idle processes with -src-offset", o.Conns, lim.Cur)
	}
	if o.Hold <= 0 {
		o.Hold = 3 * time.Second
	}
	sc, err := newSessionConfig(&o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()

	memBefore := SampleTree(o.PIDs, true)
	slabBefore := kernelSlab()
	selfBefore := SampleTree([]int{os.Getpid()}, true)

	var live counters
	stop := startProgress(o.Progress, o.Duration, "idle "+o.Proto, &live)
	m := startMeter(o.PIDs, o.MockPIDs)
	var next atomic.Int64
	all := make([]workerStats, o.Conc)
	held := make([][]*session, o.Conc)
	var wg sync.WaitGroup
	for w := range all {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ws := &all[w]
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(o.Conns) {
					return
				}
				begin := time.Now()
				s, err := idleOpen(sc, int(i), o.Login)
				if err != nil {
					ws.fail(err, &live)
					continue
				}
				ws.session.Record(time.Since(begin))
				ws.ok++
				live.ok.Add(1)
				held[w] = append(held[w], s)
			}
		}(w)
	}
	wg.Wait()
	stop()
	openSec := time.Since(m.start).Seconds()

	r := &Report{Mode: "idle", Proto: o.Proto, TLS: o.TLS, StartTLS: o.StartTLS, Resume: o.Resume, Target: o.Addr,
		Conc: o.Conc}
	sc.tlsFigures(r)
	mergeStats(r, all, false)
	m.finish(r, r.OK)
	r.Elapsed = openSec

	// Memory settles once the last greetings and logins are done; Hold is
	// a measurement interval, not a synchronisation.
	select {
	case <-time.After(o.Hold):
	case <-ctx.Done():
	}
	memAfter := SampleTree(o.PIDs, true)
	slabAfter := kernelSlab()
	selfAfter := SampleTree([]int{os.Getpid()}, true)
	n := float64(max(r.OK, 1))
	r.Idle = &IdleFigures{
		Opened: int(r.OK), LoggedIn: o.Login, OpenSec: openSec,
		RSSBefore: memBefore.RSS, RSSAfter: memAfter.RSS, PSSBefore: memBefore.PSS, PSSAfter: memAfter.PSS,
		RSSPerConn:   float64(memAfter.RSS-memBefore.RSS) / n,
		PSSPerConn:   float64(memAfter.PSS-memBefore.PSS) / n,
		SlabPerConn:  float64(slabAfter-slabBefore) / n,
		GenRSSPerCon: float64(selfAfter.RSS-selfBefore.RSS) / n,
	}
	for _, ss := range held {
		for _, s := range ss {
			s.close()
		}
	}
	return r, nil
}

// idleOpen connects, reads the greeting (and upgrades with STARTTLS),
// optionally logs in, and clears the deadline so the connection can be
// held.
func idleOpen(sc *sessionConfig, seq int, login bool) (*session, error) {
	s, err := sc.open(seq)
	if err != nil {
		return nil, err
	}
	if login {
		if err := sc.ops.login(s); err != nil {
			s.close()
			return nil, err
		}
	}
	s.c.SetDeadline(time.Time{})
	// Held connections keep no 64 KiB reader: the generator's own memory
	// must not limit how many it holds.
	s.r.Reset(nil)
	select {
	case sessionBufs <- s.r:
	default:
	}
	s.r = nil
	return s, nil
}

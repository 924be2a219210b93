package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"mailproxy/bench/mockbackend"
)

// RunRelay logs o.Conc sessions in and moves messages through the relay
// until o.Duration or o.Count messages: IMAP FETCH of the backend's message,
// POP3 RETR, SMTP MAIL/RCPT/DATA of an o.Size message. A failed session is
// counted and replaced by a new one; with o.Count, a session that fails
// before moving a message uses up one of the o.Count messages.
func RunRelay(ctx context.Context, o Options) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	sc, err := newSessionConfig(&o)
	if err != nil {
		return nil, err
	}
	sc.smtpData = append(mockbackend.Message(o.Size), ".\r\n"...)
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()

	var live counters
	stop := startProgress(o.Progress, o.Duration, "relay "+o.Proto, &live)
	m := startMeter(o.PIDs, o.MockPIDs)
	var issued atomic.Int64
	var seq atomic.Int64
	all := make([]workerStats, o.Conc)
	var wg sync.WaitGroup
	for w := range all {
		wg.Add(1)
		go func(ws *workerStats) {
			defer wg.Done()
			for ctx.Err() == nil && (o.Count == 0 || issued.Load() < int64(o.Count)) {
				err := relaySession(ctx, sc, int(seq.Add(1)), o.Count, &issued, ws, &live)
				if err != nil {
					ws.fail(err, &live)
				}
			}
		}(&all[w])
	}
	wg.Wait()
	stop()
	r := &Report{Mode: "relay", Proto: o.Proto, TLS: o.TLS, StartTLS: o.StartTLS, Target: o.Addr, Conc: o.Conc}
	_, _, bytes := mergeStats(r, all, false)
	m.finish(r, r.OK)
	r.Relay = &RelayFigures{Bytes: bytes, Messages: r.OK}
	if r.OK > 0 {
		r.Relay.Size = bytes / int64(r.OK)
	}
	if r.Elapsed > 0 {
		r.Relay.MBps = float64(bytes) / 1e6 / r.Elapsed
	}
	if r.Proxy != nil && bytes > 0 {
		r.Proxy.CPUPerGB = r.Proxy.CPUSec / (float64(bytes) / 1e9)
	}
	return r, nil
}

// relaySession logs in once and transfers messages until the run ends.
// A session that fails before its first transfer counts as one issued
// message, so -n bounds the attempts against a proxy that refuses or
// rejects every session instead of reconnecting until -d.
func relaySession(ctx context.Context, sc *sessionConfig, seq, count int, issued *atomic.Int64,
	ws *workerStats, live *counters) error {
	setupFailed := func(err error) error {
		issued.Add(1)
		return err
	}
	s, err := sc.open(seq)
	if err != nil {
		return setupFailed(err)
	}
	defer s.close()
	ops := sc.ops
	if err := ops.login(s); err != nil {
		return setupFailed(err)
	}
	if err := ops.prepare(s); err != nil {
		return setupFailed(err)
	}
	for ctx.Err() == nil {
		if count > 0 && issued.Add(1) > int64(count) {
			break
		}
		s.extend()
		begin := time.Now()
		n, err := ops.transfer(s)
		if err != nil {
			return err
		}
		ws.session.Record(time.Since(begin))
		ws.ok++
		ws.bytes += n
		live.ok.Add(1)
		live.bytes.Add(n)
	}
	s.extend()
	return ops.logout(s)
}

package loop

import (
	"sync"
	"sync/atomic"
)

// Pool is a bounded worker pool for blocking work that must stay off the
// event loops (auth_http calls, backend dials). Event loops submit with
// TrySubmit, which never blocks; when every worker is busy and the queue
// is full it says no, and the caller answers a temporary failure.
//
// It replaces ants: gnet's init() releases ants' default pool (gnet-notes
// §3), and a fixed set of goroutines reading one buffered channel is all
// this needs. Safe for concurrent use. A task that panics is logged and
// counted (workerPanic) and the worker goes on; tasks that must answer
// their session recover themselves (authCall).
type Pool struct {
	tasks chan func() // capacity limit: a send never blocks
	limit int64       // workers + queue
	load  atomic.Int64
	wg    sync.WaitGroup

	mu     sync.RWMutex // guards closed against the channel being closed
	closed bool
}

// NewPool starts workers goroutines (at least 1) sharing a queue of up to
// queue waiting tasks: TrySubmit accepts while fewer than workers+queue
// tasks are running or waiting.
func NewPool(workers, queue int) *Pool {
	if workers < 1 {
		workers = 1
	}
	if queue < 0 {
		queue = 0
	}
	limit := workers + queue
	p := &Pool{tasks: make(chan func(), limit), limit: int64(limit)}
	p.wg.Add(workers)
	for range workers {
		go p.poolWorker()
	}
	return p
}

func (p *Pool) poolWorker() {
	defer p.wg.Done()
	for f := range p.tasks {
		poolRun(f)
		p.load.Add(-1)
	}
}

// TrySubmit queues f for a worker. It never blocks; it returns false when
// the pool is saturated or closed, and then f will not run.
func (p *Pool) TrySubmit(f func()) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	// load counts running plus queued tasks; bounding it by the channel's
	// capacity makes the send below non-blocking and the answer exact.
	if p.load.Add(1) > p.limit {
		p.load.Add(-1)
		return false
	}
	p.tasks <- f
	return true
}

// Close stops accepting tasks, lets the workers finish the running and the
// queued ones, and returns when all have. Calling it again is a no-op.
func (p *Pool) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.tasks)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// poolRun runs one task; a panic ends the task, not the worker.
func poolRun(f func()) {
	defer func() {
		if p := recover(); p != nil {
			_ = workerPanic("worker task", p)
		}
	}()
	f()
}

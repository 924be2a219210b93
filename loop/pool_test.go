package loop

import (
	"sync/atomic"
	"testing"
)

func TestPoolSaturation(t *testing.T) {
	f := func(workers, queue int) {
		t.Helper()
		p := NewPool(workers, queue)
		release := make(chan struct{})
		started := make(chan struct{}, workers)
		var ran atomic.Int32
		block := func() {
			started <- struct{}{}
			<-release
			ran.Add(1)
		}
		for i := range workers {
			if !p.TrySubmit(block) {
				t.Fatalf("workers=%d queue=%d: submit %d refused with idle workers", workers, queue, i)
			}
			<-started // the worker holds it, so the next submit needs another
		}
		for i := range queue {
			if !p.TrySubmit(func() { ran.Add(1) }) {
				t.Fatalf("workers=%d queue=%d: queued submit %d refused", workers, queue, i)
			}
		}
		if p.TrySubmit(func() { ran.Add(1) }) {
			t.Errorf("workers=%d queue=%d: TrySubmit accepted work on a saturated pool", workers, queue)
		}
		close(release)
		p.Close()
		if got := int(ran.Load()); got != workers+queue {
			t.Errorf("workers=%d queue=%d: %d tasks ran, want %d", workers, queue, got, workers+queue)
		}
		if p.TrySubmit(func() {}) {
			t.Errorf("TrySubmit accepted work after Close")
		}
	}
	f(1, 0)
	f(1, 1)
	f(2, 3)
	f(4, 16)
}

func TestPoolCloseWaits(t *testing.T) {
	p := NewPool(2, 4)
	started := make(chan struct{})
	release := make(chan struct{})
	var done atomic.Bool
	if !p.TrySubmit(func() {
		close(started)
		<-release
		done.Store(true)
	}) {
		t.Fatal("TrySubmit refused")
	}
	<-started
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a task was running")
	default:
	}
	close(release)
	<-closed
	if !done.Load() {
		t.Fatal("Close returned before the running task finished")
	}
	p.Close() // idempotent
}

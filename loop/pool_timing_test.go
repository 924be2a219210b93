package loop

import "testing"

func BenchmarkPoolTrySubmit(b *testing.B) {
	p := NewPool(2, 1024)
	defer p.Close()
	done := make(chan struct{}, 1024)
	f := func() { done <- struct{}{} }
	b.ReportAllocs()
	for b.Loop() {
		for !p.TrySubmit(f) {
			<-done
		}
		select {
		case <-done:
		default:
		}
	}
}

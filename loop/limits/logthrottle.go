package limits

import "sync"

// Log lines under attack: one refusal line per reason per second, and
// ban lines at up to banLogRate a second (bursts of banLogBurst), so an
// attack cannot flood the log. What is left out is counted and reported
// on the next line that is written.

const (
	banLogRate  = 100
	banLogBurst = 1000
)

type logThrottle struct {
	mu            sync.Mutex
	last          [NumReasons]int64
	suppressed    [NumReasons]uint64
	banTokens     float64
	banLast       int64
	banSuppressed uint64
}

// LogRefusal reports whether a refusal line for r may be written now, and
// how many were left out since the last one.
func (l *Limiter) LogRefusal(r Reason, now int64) (bool, uint64) {
	t := &l.logs
	t.mu.Lock()
	defer t.mu.Unlock()
	if r >= NumReasons {
		r = None
	}
	if t.last[r] != 0 && now-t.last[r] < 1e9 {
		t.suppressed[r]++
		return false, 0
	}
	t.last[r] = now
	n := t.suppressed[r]
	t.suppressed[r] = 0
	return true, n
}

// LogBan reports whether a ban line may be written now, and how many were
// left out since the last one.
func (l *Limiter) LogBan(now int64) (bool, uint64) {
	t := &l.logs
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.banLast == 0 {
		t.banTokens = banLogBurst
	} else if now > t.banLast {
		t.banTokens = min(banLogBurst, t.banTokens+float64(now-t.banLast)/1e9*banLogRate)
	}
	t.banLast = now
	if t.banTokens < 1 {
		t.banSuppressed++
		return false, 0
	}
	t.banTokens--
	n := t.banSuppressed
	t.banSuppressed = 0
	return true, n
}

package loop

import "mailproxy/loop/stats"

// Phase is where a session is in its life: the phases the metrics count
// connections in (loop/stats), so the session's enum and the label set are
// one type.
type Phase = stats.Phase

// The phases, in order.
const (
	PhasePreAuth      = stats.PhasePreAuth
	PhaseAuth         = stats.PhaseAuth
	PhaseBackendLogin = stats.PhaseBackendLogin
	PhaseRelay        = stats.PhaseRelay
)

package stats

// Phase is where a client connection is in its life; it labels the
// current-connections gauge and the timeout counter.
type Phase uint8

// Phases of a session, in order. A connection is in exactly one phase from
// accept to close.
const (
	PhasePreAuth      Phase = iota // greeting, capability, STARTTLS, reading credentials
	PhaseAuth                      // waiting for auth_http (including Auth-Wait)
	PhaseBackendLogin              // connecting to and logging in at the backend
	PhaseRelay                     // bytes flow both ways
	NumPhases
)

var metricPhaseNames = [NumPhases]string{"pre_auth", "auth", "backend_login", "relay"}

// String returns the phase's label value ("pre_auth", "auth", "backend_login", "relay").
func (p Phase) String() string {
	if p < NumPhases {
		return metricPhaseNames[p]
	}
	return "unknown"
}

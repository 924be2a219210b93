// Package admin is the admin HTTP listener (`admin { listen ADDR; }`), on
// fasthttp: /metrics (loop/stats' exposition), /livez, and /readyz, which
// answers 503 before the mail listeners are up and while draining.
//
// Goroutines: it serves from its own goroutines, never on an event loop;
// Start, Addr and Close are safe from any goroutine. The ready function
// given to Start is called per request and must be safe for that.
package admin

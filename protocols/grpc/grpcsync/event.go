package grpcsync

import "github.com/detsim/detsim/sim"

// Event is a one-shot event, like grpc-go's grpcsync.Event: Fire sets it
// once, Done is closed when it fires.
type Event struct {
	mu    sim.Mutex
	fired bool
	c     sim.Chan[struct{}]
}

// NewEvent returns an unfired Event on env's runtime.
func NewEvent(env sim.Env) *Event {
	return &Event{mu: env.NewMutex(), c: sim.NewChan[struct{}](env, 0)}
}

// Fire fires the event; it reports whether this call fired it (false if it
// had already fired).
func (e *Event) Fire() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fired {
		return false
	}
	e.fired = true
	e.c.Close()
	return true
}

// Done returns a channel that is closed when the event fires.
func (e *Event) Done() sim.Chan[struct{}] { return e.c }

// HasFired reports whether the event has fired.
func (e *Event) HasFired() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fired
}

package sim

import "fmt"

// Signal is a broadcast notifier for packages built on the kernel (the
// network model): a task that must wait for some state to change takes
// C(), re-checks the state, and then receives from (or Selects on) the
// channel; Broadcast wakes every such waiter by closing the channel and
// starting a new one. Broadcast may be called from tasks and from
// ScheduleFunc callbacks, and is not itself a scheduling point.
type Signal struct {
	w     *World
	label string
	cur   *simChan[struct{}]
	n     int
}

// NewSignal returns a Signal whose channels are described as label in
// deadlock and leak reports (e.g. "Conn.Read 10.0.0.1:80 <- 10.0.0.2:4000").
func (w *World) NewSignal(label string) *Signal {
	return &Signal{w: w, label: label}
}

// C returns the channel that the next Broadcast closes.
func (s *Signal) C() Chan[struct{}] {
	if s.cur == nil {
		s.cur = newSimChan[struct{}](s.w, 0)
		s.cur.label = s.label
	}
	return s.cur
}

// Broadcast wakes every task waiting on a channel obtained from C.
func (s *Signal) Broadcast() {
	s.n++
	if s.cur != nil {
		s.cur.close()
		s.cur = nil
	}
}

// Broadcasts returns how many times Broadcast was called.
func (s *Signal) Broadcasts() int { return s.n }

func (s *Signal) String() string { return fmt.Sprintf("signal %q", s.label) }

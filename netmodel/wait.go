package netmodel

import (
	"errors"
	"os"
	"time"

	"github.com/detsim/detsim/sim"
)

// errDeadline is what a socket operation returns when its deadline passes,
// as on the OS network ("i/o timeout", Timeout() == true).
var errDeadline error = os.ErrDeadlineExceeded

// errWriteShutdown is what a write after CloseWrite returns (EPIPE on
// Linux).
var errWriteShutdown = errors.New("broken pipe")

// passed reports whether a socket deadline (on the host's clock; zero means
// none) has passed.
func (h *Host) passed(deadline time.Time) bool {
	return !deadline.IsZero() && !h.env.Now().Before(deadline)
}

// wait blocks the calling task until sig broadcasts, the deadline (host
// clock; zero means none) passes, or done (nil means none) is closed. The
// caller re-checks its condition afterwards.
func (h *Host) wait(sig *sim.Signal, deadline time.Time, done sim.Chan[struct{}]) {
	if done == nil {
		if deadline.IsZero() {
			sig.Wait()
			return
		}
		if d := deadline.Sub(h.env.Now()); d > 0 {
			sig.WaitTimeout(d)
		}
		return
	}
	w := h.n.w
	var buf [3]sim.Case
	cases := append(buf[:0], sig.Case())
	var tm sim.Timer
	if !deadline.IsZero() {
		d := deadline.Sub(h.env.Now())
		if d <= 0 {
			return
		}
		tm = w.NewTimer(d)
		cases = append(cases, sim.RecvCase(tm.C(), nil, nil))
	}
	cases = append(cases, sim.RecvCase(done, nil, nil))
	sim.Select(w, cases...)
	if tm != nil {
		tm.Stop()
	}
}

package sim

import (
	"fmt"
	"reflect"
	"time"
)

// Signal is a broadcast notifier for packages built on the kernel (the
// network model): a task that must wait for some state to change checks
// the state and, if it must wait, calls Wait (or WaitTimeout, or Selects on
// Case with other cases); Broadcast wakes every such waiter. Broadcast may
// be called from tasks and from ScheduleFunc callbacks, and is not itself a
// scheduling point.
//
// A wait makes the same scheduling points and trace events as receiving
// from a channel that Broadcast closes, in a Select with a timer's channel
// for WaitTimeout (which is how it is specified), without allocating one.
type Signal struct {
	w     *World
	label string
	// labeler, if set, gives the label when a report needs it.
	labeler fmt.Stringer
	n       int
	// open: some task has waited since the last Broadcast (a channel of
	// this round exists, in the specification).
	open bool
	q    sigQueue
}

// NewSignal returns a Signal described as label in deadlock and leak
// reports (e.g. "Conn.Read 10.0.0.1:80 <- 10.0.0.2:4000").
func (w *World) NewSignal(label string) *Signal {
	return &Signal{w: w, label: label}
}

// NewSignalOf is NewSignal with a label computed only when a report needs
// it (label.String()), for signals made by the thousand.
func (w *World) NewSignalOf(label fmt.Stringer) *Signal {
	return &Signal{w: w, labeler: label}
}

// Label is the signal's description in reports.
func (s *Signal) Label() string {
	if s.labeler != nil {
		return s.labeler.String()
	}
	return s.label
}

// Broadcasts returns how many times Broadcast was called.
func (s *Signal) Broadcasts() int { return s.n }

func (s *Signal) String() string { return fmt.Sprintf("signal %q", s.Label()) }

// Broadcast wakes every task waiting on s, in the order they began to wait.
func (s *Signal) Broadcast() {
	s.n++
	if !s.open {
		return
	}
	s.open = false
	for e := s.q.head; e != nil; e = s.q.head {
		if e.op != nil {
			e.op.fire(e.idx) // takes e off s.q with the select's other cases
		} else {
			s.q.remove(e)
			e.chosen = 0
			if e.tm != nil {
				e.tm.waiter = nil
			}
		}
		s.w.wake(e.t)
	}
}

// round starts a wait in the current round and returns its number.
func (s *Signal) round() int {
	if !s.open {
		s.open = true
		s.w.objID++ // the round's channel, in the specification
	}
	return s.n
}

// Wait blocks the calling task until the next Broadcast.
func (s *Signal) Wait() {
	w := s.w
	n := s.round()
	t := w.schedPoint("Select")
	if s.n != n {
		return
	}
	e := w.getSigWaiter(t, s, nil)
	s.q.push(e)
	w.block(t, WaitSelect, e)
	w.putSigWaiter(e)
}

// WaitTimeout blocks the calling task until the next Broadcast or until d
// (positive) has passed, and reports whether it was woken by a Broadcast.
func (s *Signal) WaitTimeout(d time.Duration) bool {
	if d <= 0 {
		panic(fmt.Sprintf("sim: Signal.WaitTimeout(%v): the timeout must be positive", d))
	}
	w := s.w
	n := s.round()
	tm := w.newTimer(evSignalTimer)
	w.objID++ // the timer's channel, in the specification
	w.schedule(&tm.ev, w.now+int64(d))
	w.schedPoint("NewTimer")
	t := w.schedPoint("Select")
	broadcast := false
	switch sig, fired := s.n != n, tm.fired; {
	case sig && fired:
		k := w.sched.choose(2)
		w.record(TraceChoice, t, int64(k), "")
		broadcast = k == 0
	case sig:
		broadcast = true
	case !fired:
		e := w.getSigWaiter(t, s, tm)
		s.q.push(e)
		tm.waiter = e
		w.block(t, WaitSelect, e)
		broadcast = e.chosen == 0
		tm.waiter = nil
		w.putSigWaiter(e)
	}
	w.schedPoint("Timer.Stop")
	tm.stop()
	return broadcast
}

// Case is a Select case that proceeds on the next Broadcast, for waits that
// also watch other channels.
func (s *Signal) Case() Case {
	return Case{impl: &sigCase{s: s, n: s.round()}}
}

// sigWaiter is a task blocked on a Signal: queued in it, and for
// WaitTimeout also the target of its timer.
type sigWaiter struct {
	t          *Task
	s          *Signal
	tm         *timer    // WaitTimeout's timer, or nil
	op         *selectOp // for a sigCase in a Select
	idx        int
	chosen     int // 0: woken by Broadcast, 1: by the timer
	queued     bool
	prev, next *sigWaiter
}

// DescribeWait implements Waitable, as the Select of the specification.
func (e *sigWaiter) DescribeWait() string {
	if e.tm != nil {
		return fmt.Sprintf("Recv %s | Recv the channel of timer#%d", e.s.Label(), e.tm.id)
	}
	return "Recv " + e.s.Label()
}

// detach takes a killed task off the signal; its timer stays pending, as
// a stopped-on-return timer would.
func (e *sigWaiter) detach(*Task) {
	e.s.q.remove(e)
	if e.tm != nil {
		e.tm.waiter = nil
	}
}

func (w *World) getSigWaiter(t *Task, s *Signal, tm *timer) *sigWaiter {
	var e *sigWaiter
	if n := len(w.sigFree); n > 0 {
		e = w.sigFree[n-1]
		w.sigFree = w.sigFree[:n-1]
	} else {
		e = new(sigWaiter)
	}
	e.t, e.s, e.tm, e.chosen = t, s, tm, -1
	return e
}

func (w *World) putSigWaiter(e *sigWaiter) {
	*e = sigWaiter{}
	w.sigFree = append(w.sigFree, e)
}

// fireSignalTimer is a WaitTimeout timer going off: it wakes the waiter,
// if it still waits.
func (tm *timer) fireSignalTimer() {
	tm.fired = true
	if e := tm.waiter; e != nil {
		e.s.q.remove(e)
		e.chosen = 1
		tm.waiter = nil
		tm.w.wake(e.t)
	}
}

// sigQueue is an intrusive FIFO of waiters.
type sigQueue struct{ head, tail *sigWaiter }

func (q *sigQueue) push(e *sigWaiter) {
	e.prev, e.next, e.queued = q.tail, nil, true
	if q.tail == nil {
		q.head = e
	} else {
		q.tail.next = e
	}
	q.tail = e
}

func (q *sigQueue) remove(e *sigWaiter) {
	if !e.queued {
		return
	}
	if e.prev == nil {
		q.head = e.next
	} else {
		e.prev.next = e.next
	}
	if e.next == nil {
		q.tail = e.prev
	} else {
		e.next.prev = e.prev
	}
	e.prev, e.next, e.queued = nil, nil, false
}

// sigCase is Signal.Case: ready once a Broadcast came after the case was
// made.
type sigCase struct {
	s *Signal
	n int
	e *sigWaiter
}

func (c *sigCase) isSim() bool    { return true }
func (c *sigCase) simReady() bool { return c.s.n != c.n }
func (c *sigCase) simCommit()     {}

func (c *sigCase) enqueue(op *selectOp, idx int) {
	c.e = c.s.w.getSigWaiter(op.t, c.s, nil)
	c.e.op, c.e.idx = op, idx
	c.s.q.push(c.e)
}

func (c *sigCase) dequeue() {
	if c.e != nil {
		c.s.q.remove(c.e)
	}
}

func (c *sigCase) finish() {
	c.s.w.putSigWaiter(c.e)
	c.e = nil
}

func (c *sigCase) release() {
	if c.e != nil && !c.e.queued {
		c.s.w.putSigWaiter(c.e)
	}
	c.e = nil
}

func (c *sigCase) describe() string { return "Recv " + c.s.Label() }

func (c *sigCase) native() reflect.SelectCase {
	panic("sim: Select: a Signal's case used with a non-simulated Env")
}

func (c *sigCase) nativeDone(reflect.Value, bool) {}

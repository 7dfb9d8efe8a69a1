package sim

import (
	"fmt"
	"time"
)

type eventKind uint8

const (
	evSleep eventKind = iota + 1
	evTimer
	evTicker
	evAfterFunc
	evDeadline
	evCall
	// evSignalTimer is Signal.WaitTimeout's timer. It is traced as an
	// evTimer: the wait is specified as a Select on a NewTimer's channel.
	evSignalTimer
)

// event is an entry of the World's event queue, ordered by (when, key).
// key is the creation sequence number, or, with PermuteEqualTime, a draw
// from the decision source in the high bits and the sequence in the low bits.
type event struct {
	when int64 // virtual ns since the start
	key  uint64
	idx  int // index in the heap, -1 when not queued
	kind eventKind
	task *Task  // evSleep: the sleeper
	tm   *timer // timer kinds
	fn   func() // evCall
	call Firer  // evCall scheduled with ScheduleCall
}

// eventHeap is a 4-ary min-heap of events with index tracking, so timers
// can be removed or re-armed in O(log n) without allocation. Each entry
// carries its event's (when, key), so comparisons read the heap's own
// array and never the events, and four children per node make it half as
// deep as a binary heap: both matter when a run keeps hundreds of
// thousands of timers pending. (when, key) is a total order, so the shape
// of the heap changes no decision: events come out in the same order.
type eventHeap []heapEntry

type heapEntry struct {
	when int64
	key  uint64
	e    *event
}

const heapArity = 4

func (h eventHeap) less(i, j int) bool {
	a, b := &h[i], &h[j]
	return a.when < b.when || (a.when == b.when && a.key < b.key)
}

func (h eventHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].e.idx = i
	h[j].e.idx = j
}

// next is the earliest event (the heap must not be empty).
func (h eventHeap) next() *event { return h[0].e }

func (h *eventHeap) push(e *event) {
	e.idx = len(*h)
	*h = append(*h, heapEntry{e.when, e.key, e})
	h.up(e.idx)
}

func (h *eventHeap) pop() *event {
	old := *h
	n := len(old) - 1
	old.swap(0, n)
	e := old[n].e
	old[n] = heapEntry{}
	*h = old[:n]
	if n > 0 {
		h.down(0)
	}
	e.idx = -1
	return e
}

func (h *eventHeap) remove(e *event) {
	i := e.idx
	if i < 0 {
		return
	}
	old := *h
	n := len(old) - 1
	if i != n {
		old.swap(i, n)
	}
	old[n] = heapEntry{}
	*h = old[:n]
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
	e.idx = -1
}

func (h eventHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / heapArity
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h eventHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		first := heapArity*i + 1
		if first >= n {
			break
		}
		j := first
		for c := first + 1; c < min(first+heapArity, n); c++ {
			if h.less(c, j) {
				j = c
			}
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// schedule queues e at virtual time when (ns since the start).
func (w *World) schedule(e *event, when int64) {
	if e.idx >= 0 {
		w.events.remove(e)
	}
	if when < w.now {
		when = w.now
	}
	e.when = when
	if e.tm != nil && !e.tm.indexed && e.tm.owner != nil {
		w.indexTimer(e.tm)
	}
	w.seq++
	e.key = w.seq
	if w.opts.Strategy.PermuteEqualTime {
		e.key = uint64(draw(w.src, 1<<30))<<32 | (w.seq & 0xffffffff)
	}
	w.events.push(e)
}

// fireDue fires every event due at or before the current time, in order.
func (w *World) fireDue() {
	for len(w.events) > 0 && w.events[0].when <= w.now && !w.stopping {
		w.fired++
		if w.fired > w.maxSteps {
			// Events are budgeted like steps: an event that keeps
			// rescheduling itself would otherwise hang the run.
			w.fail(&Failure{Kind: Budget, Message: fmt.Sprintf(
				"event budget of %d exhausted: events keep firing (a timer or callback rescheduling itself?); raise Options.MaxSteps if the run is just long", w.maxSteps)})
			return
		}
		e := w.events.pop()
		w.fire(e)
	}
}

func (w *World) fire(e *event) {
	switch e.kind {
	case evSleep:
		w.fp.fold(traceWord(TraceTimer, e.task.id, int64(evSleep)))
		if w.opts.Trace {
			w.appendTrace(TraceTimer, e.task, int64(evSleep), "")
		}
		w.wake(e.task)
	case evTimer, evTicker, evAfterFunc, evDeadline:
		w.record(TraceTimer, nil, int64(e.kind), "")
		e.tm.fire()
	case evCall:
		w.fp.fold(traceWord(TraceTimer, 0, int64(evCall)))
		if w.opts.Trace {
			w.appendTrace(TraceTimer, nil, int64(evCall), "")
		}
		if e.call != nil {
			e.call.Fire()
		} else {
			e.fn()
		}
	case evSignalTimer:
		w.record(TraceTimer, nil, int64(evTimer), "")
		e.tm.fireSignalTimer()
	}
}

// Event is a callback scheduled on the World's clock with ScheduleFunc.
type Event struct {
	w  *World
	ev event
}

// ScheduleFunc runs fn in the World's loop (not in a task) once d of virtual
// time has passed. fn must not block; it may wake tasks, start tasks with Go,
// and schedule further events. It is the hook that packages built on the
// kernel (the network model) use to deliver messages.
func (w *World) ScheduleFunc(d time.Duration, fn func()) *Event {
	e := &Event{w: w}
	e.ev = event{idx: -1, kind: evCall, fn: fn}
	w.schedule(&e.ev, w.now+int64(d))
	return e
}

// Firer is a callback for ScheduleCall.
type Firer interface {
	// Fire runs in the World's loop, like a ScheduleFunc callback.
	Fire()
}

// ScheduleCall is ScheduleFunc without allocating: it schedules f.Fire in e,
// an Event the caller owns (typically embedded in a pooled value that
// implements Firer). e may be scheduled again once it has fired (from Fire
// itself, too) or been cancelled. Events scheduled either way are ordered
// the same, so a package can switch between them without changing any
// decision.
func (w *World) ScheduleCall(e *Event, d time.Duration, f Firer) {
	if e.Pending() {
		panic("sim: ScheduleCall on an Event that is still pending")
	}
	e.w = w
	e.ev = event{idx: -1, kind: evCall, call: f}
	w.schedule(&e.ev, w.now+int64(d))
}

// Pending reports whether the event is scheduled and has not fired.
func (e *Event) Pending() bool { return e.w != nil && e.ev.idx >= 0 }

// Cancel removes the event if it has not fired and reports whether it did.
func (e *Event) Cancel() bool {
	if !e.Pending() {
		return false
	}
	e.w.events.remove(&e.ev)
	return true
}

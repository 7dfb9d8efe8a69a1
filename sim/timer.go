package sim

import (
	"fmt"
	"time"
)

// timer is the kernel side of NewTimer, NewTicker, AfterFunc and context
// deadlines: an event in the World's queue and what to do when it fires.
type timer struct {
	w       *World
	id      int
	ev      event
	ch      *simChan[time.Time] // NewTimer, NewTicker
	period  int64               // NewTicker
	f       func()              // AfterFunc
	ctx     *simCtx             // context deadline
	creator string
	owner   any       // the creating task's owner
	indexed bool      // in its owner's ownedSet (see indexTimer)
	owned   *ownedSet // owner's index entry, once looked up
	// Signal.WaitTimeout: whether it went off, and the waiter to wake.
	fired  bool
	waiter *sigWaiter
}

func (w *World) newTimer(kind eventKind) *timer {
	w.objID++
	tm := &timer{w: w, id: w.objID}
	tm.ev = event{idx: -1, kind: kind, tm: tm}
	if t := w.current; t != nil {
		tm.creator = t.name
		tm.owner = t.owner
	}
	w.indexTimer(tm)
	if kind == evTimer || kind == evTicker {
		tm.ch = newSimChan[time.Time](w, 1)
		tm.ch.timerOf = tm
	}
	return tm
}

func (tm *timer) fire() {
	w := tm.w
	switch tm.ev.kind {
	case evTimer:
		tm.ch.offer(w.Now())
	case evTicker:
		// A slow receiver misses ticks, as with time.Ticker.
		tm.ch.offer(w.Now())
		w.schedule(&tm.ev, w.now+tm.period)
	case evAfterFunc:
		w.spawn(fmt.Sprintf("AfterFunc(timer#%d)", tm.id), tm.f, nil, tm.owner)
	case evDeadline:
		tm.ctx.cancel(errDeadlineExceeded)
	}
}

// stop dequeues the timer and discards an undelivered value, reporting
// whether the timer was still active (Go 1.23 semantics).
func (tm *timer) stop() bool {
	pending := tm.ev.idx >= 0
	tm.w.events.remove(&tm.ev)
	if tm.ch != nil && tm.ch.drain() {
		pending = true
	}
	return pending
}

func (tm *timer) describe(e *event) string {
	what := map[eventKind]string{evTimer: "NewTimer", evTicker: "NewTicker", evAfterFunc: "AfterFunc", evDeadline: "context deadline", evSignalTimer: "NewTimer"}[e.kind]
	by := ""
	if tm.creator != "" {
		by = fmt.Sprintf(" made by task %q", tm.creator)
	}
	return fmt.Sprintf("timer#%d (%s%s) due at t=%v", tm.id, what, by, time.Duration(e.when))
}

// simTimer implements Timer.
type simTimer struct{ tm *timer }

func (s simTimer) C() Chan[time.Time] {
	if s.tm.ch == nil {
		return nil
	}
	return s.tm.ch
}

func (s simTimer) Stop() bool {
	s.tm.w.schedPoint("Timer.Stop")
	return s.tm.stop()
}

func (s simTimer) Reset(d time.Duration) bool {
	w := s.tm.w
	w.schedPoint("Timer.Reset")
	pending := s.tm.stop()
	w.schedule(&s.tm.ev, w.now+int64(d))
	return pending
}

// simTicker implements Ticker.
type simTicker struct{ tm *timer }

func (s simTicker) C() Chan[time.Time] { return s.tm.ch }

func (s simTicker) Stop() {
	s.tm.w.schedPoint("Ticker.Stop")
	s.tm.stop()
}

func (s simTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("non-positive interval for Ticker.Reset")
	}
	w := s.tm.w
	w.schedPoint("Ticker.Reset")
	s.tm.stop()
	s.tm.period = int64(d)
	w.schedule(&s.tm.ev, w.now+int64(d))
}

// NewTimer returns a timer that sends the time on its channel after d.
func (w *World) NewTimer(d time.Duration) Timer {
	tm := w.newTimer(evTimer)
	w.schedule(&tm.ev, w.now+int64(d))
	if w.current != nil {
		w.schedPoint("NewTimer")
	}
	return simTimer{tm}
}

// NewTicker returns a ticker with period d; d must be positive.
func (w *World) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("non-positive interval for NewTicker")
	}
	tm := w.newTimer(evTicker)
	tm.period = int64(d)
	w.schedule(&tm.ev, w.now+int64(d))
	if w.current != nil {
		w.schedPoint("NewTicker")
	}
	return simTicker{tm}
}

// AfterFunc runs f in a new task after d. The returned Timer's C is nil.
func (w *World) AfterFunc(d time.Duration, f func()) Timer {
	if f == nil {
		panic("sim: AfterFunc: f is nil")
	}
	tm := w.newTimer(evAfterFunc)
	tm.f = f
	w.schedule(&tm.ev, w.now+int64(d))
	if w.current != nil {
		w.schedPoint("AfterFunc")
	}
	return simTimer{tm}
}

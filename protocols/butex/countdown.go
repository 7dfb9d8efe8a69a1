package butex

import (
	"fmt"
	"time"
)

// CountdownEvent is bthread::CountdownEvent: a counter on a butex; Wait
// blocks until it drops to zero or below, and the Signal that gets it
// there wakes every waiter.
type CountdownEvent struct {
	rt *Runtime
	b  *Butex
	// overDecreased counts signals that took the counter below zero
	// (brpc logs "Counter is over decreased").
	overDecreased int
}

// NewCountdownEvent returns an event counting down from initial (>= 0).
func (rt *Runtime) NewCountdownEvent(initial int) (*CountdownEvent, error) {
	if initial < 0 {
		return nil, fmt.Errorf("butex: NewCountdownEvent(%d): the initial count must be >= 0", initial)
	}
	return &CountdownEvent{rt: rt, b: rt.NewButex(initial)}, nil
}

// Count returns the counter.
func (e *CountdownEvent) Count() int { return e.b.value }

// OverDecreased returns how many signals took the counter below zero.
func (e *CountdownEvent) OverDecreased() int { return e.overDecreased }

// Signal is CountdownEvent::signal(sig, flush): decrease the counter by
// sig (>= 1); the signal that brings it to zero (or below) wakes every
// waiter with butex_wake_all(nosignal = flush). With flush the caller is
// expected to call Runtime.Flush afterwards ("when flush is true, after
// signal we need to call bthread_flush").
func (e *CountdownEvent) Signal(c Caller, sig int, flush bool) error {
	if sig < 1 {
		return fmt.Errorf("butex: CountdownEvent.Signal(sig=%d): sig must be >= 1", sig)
	}
	e.rt.callerOf(c, "CountdownEvent.Signal")
	prev := e.b.value
	e.b.value -= sig
	if prev > sig {
		return nil
	}
	if prev < sig {
		e.overDecreased++
	}
	e.b.WakeAll(c, flush)
	return nil
}

// AddCount is CountdownEvent::add_count: raise the counter by v (>= 0).
func (e *CountdownEvent) AddCount(v int) error {
	if v < 0 {
		return fmt.Errorf("butex: CountdownEvent.AddCount(%d): v must be >= 0", v)
	}
	e.b.value += v
	return nil
}

// Reset is CountdownEvent::reset: set the counter to v (>= 0).
func (e *CountdownEvent) Reset(v int) error {
	if v < 0 {
		return fmt.Errorf("butex: CountdownEvent.Reset(%d): v must be >= 0", v)
	}
	e.b.value = v
	return nil
}

// Wait is CountdownEvent::wait (timed_wait with a timeout; 0: none): block
// until the counter is zero or below. It returns ErrTimedOut if the
// timeout passes first.
func (e *CountdownEvent) Wait(c Caller, timeout time.Duration) error {
	if timeout < 0 {
		return fmt.Errorf("butex: CountdownEvent.Wait: timeout %v is negative (0 means none)", timeout)
	}
	e.rt.callerOf(c, "CountdownEvent.Wait")
	deadline := e.rt.env.Now().Add(timeout)
	for {
		seen := e.b.value
		if seen <= 0 {
			return nil
		}
		left := time.Duration(0)
		if timeout > 0 {
			if left = e.rt.env.Until(deadline); left <= 0 {
				return ErrTimedOut
			}
		}
		if err := e.b.Wait(c, seen, left); err == ErrTimedOut {
			return err
		}
	}
}

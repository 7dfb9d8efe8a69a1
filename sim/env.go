package sim

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Env is the environment handle protocol code is written against: clock,
// timers, tasks, synchronisation, contexts, random streams and logging. The
// World implements it for simulation; an OS runtime implements it over
// goroutines, the real clock and package sync, so the same protocol code runs
// both ways. Channels are made with NewChan(env, n) and multiplexed with
// Select(env, cases...), which work on either runtime.
//
// In simulation every blocking or synchronising call is a scheduling point,
// and must be made from a task (a function started with World.Run or Go).
type Env interface {
	// Now returns the current (virtual) time.
	Now() time.Time
	// Since returns Now().Sub(t).
	Since(t time.Time) time.Duration
	// Until returns t.Sub(Now()).
	Until(t time.Time) time.Duration
	// Sleep blocks the calling task for d; d <= 0 just yields.
	Sleep(d time.Duration)
	// NewTimer, NewTicker and AfterFunc behave as package time's do since
	// Go 1.23: Stop and Reset guarantee no stale value is received after
	// they return, and the timer's channel reports capacity 0.
	NewTimer(d time.Duration) Timer
	NewTicker(d time.Duration) Ticker
	AfterFunc(d time.Duration, f func()) Timer

	// Go starts fn as a new task called name (names need not be unique;
	// they appear in traces and failure reports).
	Go(name string, fn func())
	// Yield is a bare scheduling point.
	Yield()

	NewMutex() Mutex
	NewRWMutex() RWMutex
	// NewCond returns a condition variable whose L is l (normally a Mutex
	// or RWMutex from this Env).
	NewCond(l sync.Locker) Cond
	NewWaitGroup() WaitGroup
	NewOnce() Once

	// Background returns a context that is never cancelled.
	Background() Context
	WithCancel(parent Context) (Context, context.CancelFunc)
	WithDeadline(parent Context, d time.Time) (Context, context.CancelFunc)
	WithTimeout(parent Context, timeout time.Duration) (Context, context.CancelFunc)

	// Rand returns the random stream called name, derived from the run's
	// seed and the name only: the same name gives the same stream object
	// and sequence, and new names do not shift existing streams.
	Rand(name string) *Rand
	// Logger returns a logger stamped with virtual time and task name.
	Logger() *slog.Logger
	// Sim returns the World behind this Env, or nil on the OS runtime.
	Sim() *World
}

// Timer is a one-shot timer (see Env.NewTimer and Env.AfterFunc).
type Timer interface {
	// C delivers the firing time; it is nil for AfterFunc timers.
	C() Chan[time.Time]
	// Stop prevents the timer from firing. It returns true if the call
	// stopped it, false if it had already fired (and its value was
	// received) or been stopped.
	Stop() bool
	// Reset changes the timer to fire after d, reporting whether it had
	// been active, as Stop does.
	Reset(d time.Duration) bool
}

// Ticker delivers ticks at intervals, dropping ticks for slow receivers.
type Ticker interface {
	C() Chan[time.Time]
	Stop()
	Reset(d time.Duration)
}

// Mutex is a mutual-exclusion lock with sync.Mutex's semantics.
type Mutex interface {
	Lock()
	Unlock()
	TryLock() bool
}

// RWMutex is a reader/writer lock with sync.RWMutex's semantics: a blocked
// writer keeps new readers out.
type RWMutex interface {
	Mutex
	RLock()
	RUnlock()
	TryRLock() bool
	RLocker() sync.Locker
}

// Cond is a condition variable with sync.Cond's semantics.
type Cond interface {
	Wait()
	Signal()
	Broadcast()
}

// WaitGroup waits for a collection of tasks, as sync.WaitGroup does.
type WaitGroup interface {
	Add(delta int)
	Done()
	Wait()
}

// Once performs exactly one action, as sync.Once does: concurrent callers
// wait until the first call's f returns.
type Once interface {
	Do(f func())
}

var _ Env = (*World)(nil)

// Now returns the virtual time.
func (w *World) Now() time.Time { return w.start.Add(time.Duration(w.now)) }

// Since returns the virtual time elapsed since t.
func (w *World) Since(t time.Time) time.Duration { return w.Now().Sub(t) }

// Until returns the virtual time until t.
func (w *World) Until(t time.Time) time.Duration { return t.Sub(w.Now()) }

// Sleep blocks the calling task for d of virtual time.
func (w *World) Sleep(d time.Duration) {
	if d <= 0 {
		w.schedPoint("Sleep")
		return
	}
	t := w.cur("Sleep")
	w.schedule(&t.sleep, w.now+int64(d))
	w.block(t, WaitSleep, nil)
}

// Go starts fn as a new task. Called from a task it is a scheduling point
// (the strategy may run the new task first); called before Run it just
// queues the task.
func (w *World) Go(name string, fn func()) {
	if fn == nil {
		panic("sim: Go(" + name + ", nil): task function is nil")
	}
	var owner any
	if w.current != nil {
		owner = w.current.owner
	}
	w.spawn(name, fn, w.current, owner)
	if w.current != nil {
		w.schedPoint("Go")
	}
}

// Spawn is Go for packages built on the kernel: it starts fn as a task owned
// by owner (see Task.Owner and World.KillOwner) and returns the task.
func (w *World) Spawn(name string, owner any, fn func()) *Task {
	if fn == nil {
		panic("sim: Spawn(" + name + ", nil): task function is nil")
	}
	t := w.spawn(name, fn, w.current, owner)
	if w.current != nil {
		w.schedPoint("Go")
	}
	return t
}

// Yield is a scheduling point: the strategy may run another task.
func (w *World) Yield() { w.schedPoint("Yield") }

// Rand returns the named random stream.
func (w *World) Rand(name string) *Rand {
	r, ok := w.streams[name]
	if !ok {
		r = NewRand(deriveSeed(w.opts.Seed, name))
		w.streams[name] = r
	}
	return r
}

// RandStream returns the stream w.Rand(name) would return, as a value the
// caller keeps: for objects made by the thousand (a network's links) that
// never look their stream up by name again, so the World need not hold it.
func (w *World) RandStream(name string) Rand { return Rand{state: deriveSeed(w.opts.Seed, name)} }

// Logger returns the World's logger.
func (w *World) Logger() *slog.Logger { return w.logger }

// Sim returns w.
func (w *World) Sim() *World { return w }

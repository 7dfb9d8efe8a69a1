package osrt

import (
	"context"
	"runtime"
	"time"

	"github.com/detsim/detsim/sim"
)

// Now returns the real time.
func (r *Runtime) Now() time.Time { return time.Now() }

// Since returns the real time elapsed since t.
func (r *Runtime) Since(t time.Time) time.Duration { return time.Since(t) }

// Until returns the real time until t.
func (r *Runtime) Until(t time.Time) time.Duration { return time.Until(t) }

// Sleep pauses the calling goroutine for d; d <= 0 just yields, as in the
// simulator.
func (r *Runtime) Sleep(d time.Duration) {
	if d <= 0 {
		runtime.Gosched()
		return
	}
	time.Sleep(d)
}

// NewTimer is time.NewTimer, with the Go 1.23 semantics sim.Env promises:
// Stop and Reset report a fired but unreceived value as pending and
// discard it, so no stale value is received after they return. Package
// time gives them when the main module says go 1.23 or later, as this one
// does; where it does not (an older main module, or GODEBUG
// asynctimerchan=1) its channels are the old buffered ones, and Stop and
// Reset drain them to keep the guarantee. NB: only the capacity the
// channel reports (1 instead of 0) then differs.
func (r *Runtime) NewTimer(d time.Duration) sim.Timer {
	t := time.NewTimer(d)
	return &timer{t: t, c: sim.NativeRecvChan(t.C)}
}

// AfterFunc is time.AfterFunc; f runs as a task called "AfterFunc".
func (r *Runtime) AfterFunc(d time.Duration, f func()) sim.Timer {
	if f == nil {
		panic("osrt: AfterFunc: f is nil")
	}
	return &timer{t: time.AfterFunc(d, func() { r.runTask(r.addTask("AfterFunc"), "AfterFunc", f) })}
}

// NewTicker is time.NewTicker; d must be positive.
func (r *Runtime) NewTicker(d time.Duration) sim.Ticker {
	t := time.NewTicker(d)
	return &ticker{t: t, c: sim.NativeRecvChan(t.C)}
}

type timer struct {
	t *time.Timer
	c sim.Chan[time.Time] // nil for AfterFunc
}

func (t *timer) C() sim.Chan[time.Time] { return t.c }

// Stop stops the timer; true if it was pending, which includes a value
// that was sent but not received (it is discarded).
func (t *timer) Stop() bool {
	if t.t.Stop() {
		return true
	}
	return t.c != nil && drain(t.t.C)
}

// Reset stops the timer as Stop does and restarts it for d.
func (t *timer) Reset(d time.Duration) bool {
	pending := t.Stop()
	t.t.Reset(d)
	return pending
}

// drain discards a value waiting in c. With Go 1.23 timer channels there
// is never one once Stop has returned; with the old buffered ones there can
// be one.
func drain(c <-chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

type ticker struct {
	t *time.Ticker
	c sim.Chan[time.Time]
}

func (t *ticker) C() sim.Chan[time.Time] { return t.c }

// Stop stops the ticker; no tick sent before is received after it.
func (t *ticker) Stop() {
	t.t.Stop()
	drain(t.t.C)
}

// Reset stops the ticker, discarding a tick not yet received, and restarts
// it with period d.
func (t *ticker) Reset(d time.Duration) {
	if d <= 0 {
		panic("non-positive interval for Ticker.Reset") // package time's (and the World's) panic, before any change
	}
	t.t.Stop()
	drain(t.t.C)
	t.t.Reset(d)
}

// Background returns a context that is never cancelled.
func (r *Runtime) Background() sim.Context { return osCtx{context.Background()} }

// WithCancel is context.WithCancel.
func (r *Runtime) WithCancel(parent sim.Context) (sim.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(parent)
	return osCtx{c}, cancel
}

// WithDeadline is context.WithDeadline (a real-time deadline).
func (r *Runtime) WithDeadline(parent sim.Context, d time.Time) (sim.Context, context.CancelFunc) {
	c, cancel := context.WithDeadline(parent, d)
	return osCtx{c}, cancel
}

// WithTimeout is context.WithTimeout.
func (r *Runtime) WithTimeout(parent sim.Context, timeout time.Duration) (sim.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(parent, timeout)
	return osCtx{c}, cancel
}

// osCtx is a context.Context with DoneChan: its Done channel as a Chan.
type osCtx struct{ context.Context }

func (c osCtx) DoneChan() sim.Chan[struct{}] { return sim.NativeRecvChan(c.Done()) }

// FromContext wraps a context.Context (for example a test's t.Context())
// as a sim.Context for this runtime.
func FromContext(ctx context.Context) sim.Context {
	if c, ok := ctx.(sim.Context); ok {
		return c
	}
	return osCtx{ctx}
}

package sim

import (
	"context"
	"time"
)

// Context is a context.Context whose cancellation can also be waited on
// inside the simulation: DoneChan is closed when the context is cancelled
// and can be received from or used in Select. Done (the native channel) is
// also closed then, so a Context can be passed to code that only checks Err,
// but blocking on Done in a task escapes the simulator.
type Context interface {
	context.Context
	DoneChan() Chan[struct{}]
}

var errDeadlineExceeded error = context.DeadlineExceeded

// simCtx is the simulated Context: a cancellation tree whose deadlines are
// World timers.
type simCtx struct {
	w           *World
	parent      *simCtx
	values      Context // the parent as given, for Value lookups
	done        *simChan[struct{}]
	nativeDone  chan struct{}
	err         error
	deadline    time.Time
	hasDeadline bool
	timer       *timer
	children    []*simCtx
}

// Background returns the World's root context, which is never cancelled.
func (w *World) Background() Context {
	if w.background == nil {
		w.background = &simCtx{w: w, done: newSimChan[struct{}](w, 0)}
	}
	return w.background
}

func (w *World) newChild(parent Context) *simCtx {
	c := &simCtx{w: w, done: newSimChan[struct{}](w, 0), values: parent}
	if d, ok := parent.Deadline(); ok {
		c.deadline, c.hasDeadline = d, true
	}
	p := asSimCtx(parent)
	if p == nil {
		panic("sim: context parent does not come from this World (wrap values with sim.WithValue, and derive from Env.Background)")
	}
	if p.w != w {
		panic("sim: context parent belongs to another World")
	}
	if p.err != nil {
		c.err = p.err
		c.done.closed = true
		return c
	}
	if p != w.background {
		c.parent = p
		p.children = append(p.children, c)
	}
	return c
}

// asSimCtx finds the simulated context under value wrappers.
func asSimCtx(c Context) *simCtx {
	for {
		switch x := c.(type) {
		case *simCtx:
			return x
		case *valueCtx:
			c = x.Context
		default:
			return nil
		}
	}
}

// WithCancel returns a child of parent cancelled by the returned function
// or when parent is.
func (w *World) WithCancel(parent Context) (Context, context.CancelFunc) {
	c := w.newChild(parent)
	return c, w.cancelFunc(c)
}

// WithDeadline returns a child of parent cancelled at virtual time d, by the
// returned function, or when parent is, whichever is first.
func (w *World) WithDeadline(parent Context, d time.Time) (Context, context.CancelFunc) {
	c := w.newChild(parent)
	if c.err != nil || (c.hasDeadline && !d.Before(c.deadline)) {
		return c, w.cancelFunc(c)
	}
	c.deadline, c.hasDeadline = d, true
	if !d.After(w.Now()) {
		c.cancel(errDeadlineExceeded)
		return c, w.cancelFunc(c)
	}
	c.timer = w.newTimer(evDeadline)
	c.timer.ctx = c
	w.schedule(&c.timer.ev, int64(d.Sub(w.start)))
	return c, w.cancelFunc(c)
}

// WithTimeout is WithDeadline(parent, Now().Add(timeout)).
func (w *World) WithTimeout(parent Context, timeout time.Duration) (Context, context.CancelFunc) {
	return w.WithDeadline(parent, w.Now().Add(timeout))
}

func (w *World) cancelFunc(c *simCtx) context.CancelFunc {
	return func() {
		if w.current != nil {
			w.schedPoint("context.CancelFunc")
		}
		c.cancel(context.Canceled)
	}
}

// cancel closes the context and its descendants; it never blocks and needs
// no task (deadline timers call it from the World's loop).
func (c *simCtx) cancel(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	c.done.close()
	if c.nativeDone != nil {
		close(c.nativeDone)
	}
	if c.timer != nil {
		c.timer.stop()
	}
	// Detach the children first: each child's cancel removes itself from
	// its parent's list, which must not shift the list being walked.
	children := c.children
	c.children = nil
	for _, ch := range children {
		ch.cancel(err)
	}
	if p := c.parent; p != nil {
		for i, s := range p.children {
			if s == c {
				p.children = append(p.children[:i], p.children[i+1:]...)
				break
			}
		}
	}
}

func (c *simCtx) Deadline() (time.Time, bool) { return c.deadline, c.hasDeadline }

// Done returns a native channel closed on cancellation. Prefer DoneChan in
// simulated code: blocking on this channel escapes the simulator.
func (c *simCtx) Done() <-chan struct{} {
	if c.nativeDone == nil {
		c.nativeDone = make(chan struct{})
		if c.err != nil {
			close(c.nativeDone)
		}
	}
	return c.nativeDone
}

func (c *simCtx) Err() error { return c.err }
func (c *simCtx) Value(key any) any {
	if c.values == nil {
		return nil
	}
	return c.values.Value(key)
}
func (c *simCtx) DoneChan() Chan[struct{}] { return c.done }

// valueCtx carries a key/value pair over any Context.
type valueCtx struct {
	Context
	key, val any
}

// WithValue returns a copy of parent carrying key=val, for either runtime.
func WithValue(parent Context, key, val any) Context {
	if key == nil {
		panic("sim: WithValue: nil key")
	}
	return &valueCtx{Context: parent, key: key, val: val}
}

func (v *valueCtx) Value(key any) any {
	if key == v.key {
		return v.val
	}
	return v.Context.Value(key)
}

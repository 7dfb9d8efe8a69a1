package sim

import (
	"iter"
	"sync"
)

// Pool keeps the coroutines of finished tasks, with the stacks they grew,
// for the tasks of later runs. Starting a coroutine and growing its stack
// to the depth of real protocol code costs more than many scheduling steps,
// and a sweep makes the same tasks seed after seed: give one Pool to the
// runs a sweep worker makes one after another (Options.Pool) and Close it
// when the sweep ends. A Pool may be shared by Worlds running at the same
// time. It changes no decision: a run's fingerprint is the same with or
// without one.
//
// A run without a Pool uses a private one, closed when the run ends, so
// that the coroutines of finished tasks still serve the later tasks of the
// same run.
type Pool struct {
	mu     sync.Mutex
	free   []*coro
	max    int
	closed bool
}

// DefaultPoolSize is how many idle coroutines a Pool keeps when NewPool is
// given 0. A pool only ever holds as many as a run had finished at once, so
// small runs keep a few; a 10,000-node swarm, whose connections start and
// end tasks by the thousand, keeps enough that it almost never makes a
// fresh coroutine and grows its stack again (with 1,024 it ran 15% slower:
// 33.5 s against 28.5 s for 60 s of virtual time). Idle coroutines cost
// their stacks, a few kilobytes each.
const DefaultPoolSize = 16384

// NewPool returns a Pool that keeps up to max idle coroutines (0 means
// DefaultPoolSize); the ones beyond are ended.
func NewPool(max int) *Pool {
	if max <= 0 {
		max = DefaultPoolSize
	}
	return &Pool{max: max}
}

// Idle returns how many idle coroutines the pool holds.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// Close ends every idle coroutine; coroutines returned afterwards are ended
// too. Close on a closed Pool does nothing.
func (p *Pool) Close() {
	p.mu.Lock()
	free := p.free
	p.free, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range free {
		c.stop()
	}
}

func (p *Pool) get() *coro {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 && !p.closed {
		c := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return c
	}
	return nil
}

// put takes back c, whose task has finished; it reports false if c must
// end instead (the pool is closed or full).
func (p *Pool) put(c *coro) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.free) >= p.max {
		return false
	}
	p.free = append(p.free, c)
	return true
}

// coro is a coroutine that runs tasks one after another: when a task
// returns, the coroutine yields to the World's loop marked idle, and the
// loop (never the coroutine itself, which has not switched away yet) puts
// it in the pool, where it waits, parked, for the next task.
type coro struct {
	next func() (struct{}, bool)
	stop func()
	// yield is set when the coroutine first runs.
	yield func(struct{}) bool
	// t is the task it runs, set before the task's first resume.
	t *Task
	// idle: its task has returned and it waits for the next one.
	idle bool
}

func newCoro() *coro {
	c := &coro{}
	c.next, c.stop = iter.Pull(c.run)
	return c
}

// run is the coroutine's body: each task's body in turn. It returns
// (ending the coroutine) when stopped, or when a task calls
// runtime.Goexit (which ends it anyway).
func (c *coro) run(yield func(struct{}) bool) {
	c.yield = yield
	for {
		if !c.t.body() {
			return
		}
		c.t, c.idle = nil, true
		if !yield(struct{}{}) {
			return
		}
		c.idle = false
	}
}

package sim

import (
	"fmt"
	"sync"
)

// simMutex hands the lock directly to the first waiter on Unlock, so a woken
// waiter never has to compete again (Go's starvation mode, always on). Which
// waiter arrives first is itself decided by the strategy.
type simMutex struct {
	w      *World
	id     int
	holder *Task
	locked bool
	q      taskQueue
}

// NewMutex returns a Mutex.
func (w *World) NewMutex() Mutex {
	w.objID++
	return &simMutex{w: w, id: w.objID}
}

func (m *simMutex) Lock() {
	t := m.w.schedPoint("Mutex.Lock")
	if !m.locked {
		m.locked, m.holder = true, t
		return
	}
	m.q.push(t)
	m.w.block(t, WaitMutex, m)
	// Unlock handed the lock to us.
}

func (m *simMutex) TryLock() bool {
	t := m.w.schedPoint("Mutex.TryLock")
	if m.locked {
		return false
	}
	m.locked, m.holder = true, t
	return true
}

func (m *simMutex) Unlock() {
	t := m.w.schedPoint("Mutex.Unlock")
	if t.unwinding && m.holder != t {
		// A killed task's defers may unlock a mutex it no longer holds:
		// killed inside Cond.Wait, which had released it. Nothing to do.
		return
	}
	if !m.locked {
		panic("sync: unlock of unlocked mutex")
	}
	if next := m.q.pop(); next != nil {
		m.holder = next
		m.w.wake(next)
		return
	}
	m.locked, m.holder = false, nil
}

func (m *simMutex) DescribeWait() string {
	if m.holder != nil {
		return fmt.Sprintf("mutex#%d (held by %v)", m.id, m.holder)
	}
	return fmt.Sprintf("mutex#%d", m.id)
}

func (m *simMutex) detach(t *Task) { m.q.remove(t) }

// simRWMutex gives a waiting writer priority over new readers, and on Unlock
// admits all waiting readers before the next writer, as sync.RWMutex does.
type simRWMutex struct {
	w        *World
	id       int
	writer   *Task // holder of the write lock
	readers  int
	readq    taskQueue
	nreadq   int
	writeq   taskQueue
	nwriteq  int
	lastRead *Task
}

// NewRWMutex returns an RWMutex.
func (w *World) NewRWMutex() RWMutex {
	w.objID++
	return &simRWMutex{w: w, id: w.objID}
}

func (m *simRWMutex) RLock() {
	t := m.w.schedPoint("RWMutex.RLock")
	if m.writer == nil && m.nwriteq == 0 {
		m.readers++
		m.lastRead = t
		return
	}
	m.readq.push(t)
	m.nreadq++
	m.w.block(t, WaitRLock, m)
}

func (m *simRWMutex) TryRLock() bool {
	t := m.w.schedPoint("RWMutex.TryRLock")
	if m.writer != nil || m.nwriteq > 0 {
		return false
	}
	m.readers++
	m.lastRead = t
	return true
}

func (m *simRWMutex) RUnlock() {
	t := m.w.schedPoint("RWMutex.RUnlock")
	if t.unwinding && m.readers <= 0 {
		return // killed inside Cond.Wait on RLocker (see simMutex.Unlock)
	}
	if m.readers <= 0 {
		panic("sync: RUnlock of unlocked RWMutex")
	}
	m.readers--
	if m.readers == 0 {
		m.admitWriter()
	}
}

func (m *simRWMutex) Lock() {
	t := m.w.schedPoint("RWMutex.Lock")
	if m.writer == nil && m.readers == 0 {
		m.writer = t
		return
	}
	m.writeq.push(t)
	m.nwriteq++
	m.w.block(t, WaitLock, m)
}

func (m *simRWMutex) TryLock() bool {
	t := m.w.schedPoint("RWMutex.TryLock")
	if m.writer != nil || m.readers > 0 {
		return false
	}
	m.writer = t
	return true
}

func (m *simRWMutex) Unlock() {
	t := m.w.schedPoint("RWMutex.Unlock")
	if t.unwinding && m.writer != t {
		return // killed inside Cond.Wait (see simMutex.Unlock)
	}
	if m.writer == nil {
		panic("sync: Unlock of unlocked RWMutex")
	}
	m.writer = nil
	if m.nreadq > 0 {
		for r := m.readq.pop(); r != nil; r = m.readq.pop() {
			m.nreadq--
			m.readers++
			m.lastRead = r
			m.w.wake(r)
		}
		return
	}
	m.admitWriter()
}

func (m *simRWMutex) admitWriter() {
	if next := m.writeq.pop(); next != nil {
		m.nwriteq--
		m.writer = next
		m.w.wake(next)
	}
}

func (m *simRWMutex) RLocker() sync.Locker { return rlocker{m} }

type rlocker struct{ m *simRWMutex }

func (r rlocker) Lock()   { r.m.RLock() }
func (r rlocker) Unlock() { r.m.RUnlock() }

func (m *simRWMutex) DescribeWait() string {
	switch {
	case m.writer != nil:
		return fmt.Sprintf("rwmutex#%d (write-held by %v)", m.id, m.writer)
	case m.readers > 0:
		return fmt.Sprintf("rwmutex#%d (read-held by %d readers, last %v; %d writers waiting)", m.id, m.readers, m.lastRead, m.nwriteq)
	}
	return fmt.Sprintf("rwmutex#%d", m.id)
}

func (m *simRWMutex) detach(t *Task) {
	if t.waitKind == WaitRLock {
		m.readq.remove(t)
		m.nreadq--
	} else {
		m.writeq.remove(t)
		m.nwriteq--
		// A departing writer may have been holding readers back.
		if m.nwriteq == 0 && m.writer == nil {
			for r := m.readq.pop(); r != nil; r = m.readq.pop() {
				m.nreadq--
				m.readers++
				m.w.wake(r)
			}
		}
	}
}

type simCond struct {
	w  *World
	id int
	l  sync.Locker
	q  taskQueue
	n  int
}

// NewCond returns a Cond whose lock is l.
func (w *World) NewCond(l sync.Locker) Cond {
	if l == nil {
		panic("sim: NewCond: nil Locker")
	}
	w.objID++
	return &simCond{w: w, id: w.objID, l: l}
}

func (c *simCond) Wait() {
	t := c.w.cur("Cond.Wait")
	// Enqueue before unlocking, so a Signal between the two is not lost:
	// Unlock is a scheduling point, and a Signal that pops t while it is
	// still runnable marks it signalled instead of waking it.
	c.q.push(t)
	c.n++
	t.condSignalled = false
	c.l.Unlock()
	if !t.condSignalled {
		c.w.block(t, WaitCond, c)
	}
	t.condSignalled = false
	c.l.Lock()
}

// release lets a task popped from the queue continue.
func (c *simCond) release(t *Task) {
	c.n--
	if t.state == taskBlocked {
		c.w.wake(t)
	} else {
		t.condSignalled = true
	}
}

func (c *simCond) Signal() {
	c.w.schedPoint("Cond.Signal")
	if t := c.q.pop(); t != nil {
		c.release(t)
	}
}

func (c *simCond) Broadcast() {
	c.w.schedPoint("Cond.Broadcast")
	for t := c.q.pop(); t != nil; t = c.q.pop() {
		c.release(t)
	}
}

func (c *simCond) DescribeWait() string {
	return fmt.Sprintf("cond#%d (%d waiting)", c.id, c.n)
}

func (c *simCond) detach(t *Task) { c.q.remove(t); c.n-- }

type simWaitGroup struct {
	w  *World
	id int
	n  int
	q  taskQueue
}

// NewWaitGroup returns a WaitGroup.
func (w *World) NewWaitGroup() WaitGroup {
	w.objID++
	return &simWaitGroup{w: w, id: w.objID}
}

func (g *simWaitGroup) Add(delta int) {
	if g.w.current != nil {
		g.w.schedPoint("WaitGroup.Add")
	}
	g.n += delta
	if g.n < 0 {
		panic("sync: negative WaitGroup counter")
	}
	if g.n == 0 {
		for t := g.q.pop(); t != nil; t = g.q.pop() {
			g.w.wake(t)
		}
	}
}

func (g *simWaitGroup) Done() { g.Add(-1) }

func (g *simWaitGroup) Wait() {
	t := g.w.schedPoint("WaitGroup.Wait")
	if g.n == 0 {
		return
	}
	g.q.push(t)
	g.w.block(t, WaitWaitGroup, g)
}

func (g *simWaitGroup) DescribeWait() string {
	return fmt.Sprintf("waitgroup#%d (counter %d)", g.id, g.n)
}

func (g *simWaitGroup) detach(t *Task) { g.q.remove(t) }

type simOnce struct {
	w       *World
	id      int
	done    bool
	running *Task
	q       taskQueue
}

// NewOnce returns a Once.
func (w *World) NewOnce() Once {
	w.objID++
	return &simOnce{w: w, id: w.objID}
}

func (o *simOnce) Do(f func()) {
	t := o.w.schedPoint("Once.Do")
	if o.done {
		return
	}
	if o.running != nil {
		o.q.push(t)
		o.w.block(t, WaitOnce, o)
		return
	}
	o.running = t
	defer func() {
		// As with sync.Once, a panicking f still counts as done.
		o.done, o.running = true, nil
		for w := o.q.pop(); w != nil; w = o.q.pop() {
			o.w.wake(w)
		}
	}()
	f()
}

func (o *simOnce) DescribeWait() string {
	if o.running != nil {
		return fmt.Sprintf("once#%d (running in %v)", o.id, o.running)
	}
	return fmt.Sprintf("once#%d", o.id)
}

func (o *simOnce) detach(t *Task) { o.q.remove(t) }

package butex

import (
	"errors"
	"fmt"
	"time"

	"github.com/detsim/detsim/sim"
)

var (
	// ErrWouldBlock is EWOULDBLOCK: the butex's value was not the
	// expected one when the caller was about to wait.
	ErrWouldBlock = errors.New("butex: EWOULDBLOCK: value differs from expected")
	// ErrTimedOut is ETIMEDOUT: the wait's timeout passed first.
	ErrTimedOut = errors.New("butex: ETIMEDOUT: wait timed out")
)

// Butex is brpc's butex: an integer value and a FIFO list of waiters
// (bthreads and pthreads) that wait while the value equals what they
// expect. The value is changed with Store/Add (atomics in brpc) and the
// waiters are woken explicitly with Wake, WakeN or WakeAll.
type Butex struct {
	rt    *Runtime
	value int
	// waiters in wait order (ButexWaiterList, under waiter_lock).
	waiters []*waiter
}

type waiterState uint8

const (
	waiterReady     waiterState = iota // set up, not yet in the list
	waiterWaiting                      // in the list
	waiterWoken                        // taken off by a wake
	waiterUnmatched                    // the value changed before it was queued
	waiterTimedOut                     // its timer took it off
)

// waiter is ButexBthreadWaiter (bt != nil) or ButexPthreadWaiter.
type waiter struct {
	bt    *Bthread
	tag   Tag
	state waiterState
	b     *Butex    // container: the butex whose list holds it, or nil
	timer sim.Timer // a bthread's timeout (sleep_id), or nil
	// A pthread waiter futex-waits on sig.
	sig *sim.Signal
}

// NewButex returns a butex holding value.
func (rt *Runtime) NewButex(value int) *Butex { return &Butex{rt: rt, value: value} }

// Value returns the value.
func (b *Butex) Value() int { return b.value }

// Store sets the value.
func (b *Butex) Store(v int) { b.value = v }

// Add adds d to the value and returns the new value.
func (b *Butex) Add(d int) int { b.value += d; return b.value }

// Waiters returns how many bthreads and pthreads wait on the butex.
func (b *Butex) Waiters() int { return len(b.waiters) }

func (b *Butex) pushWaiter(wt *waiter) {
	wt.state = waiterWaiting
	wt.b = b
	b.waiters = append(b.waiters, wt)
}

// popWaiter takes the first waiter off the list (nil if none).
func (b *Butex) popWaiter() *waiter {
	if len(b.waiters) == 0 {
		return nil
	}
	wt := b.waiters[0]
	copy(b.waiters, b.waiters[1:])
	b.waiters[len(b.waiters)-1] = nil
	b.waiters = b.waiters[:len(b.waiters)-1]
	wt.b = nil
	wt.state = waiterWoken
	return wt
}

func (b *Butex) removeWaiter(wt *waiter) {
	for i, x := range b.waiters {
		if x == wt {
			copy(b.waiters[i:], b.waiters[i+1:])
			b.waiters[len(b.waiters)-1] = nil
			b.waiters = b.waiters[:len(b.waiters)-1]
			wt.b = nil
			return
		}
	}
}

// Wait is butex_wait: if the value equals expected, block until a wake
// takes the caller off the list (nil), or until timeout (0: none) passes
// (ErrTimedOut); if it does not, return ErrWouldBlock at once. A bthread
// gives up its worker while it waits; a pthread futex-waits (brpc allows
// both).
func (b *Butex) Wait(c Caller, expected int, timeout time.Duration) error {
	th, bt := b.rt.callerOf(c, "Butex.Wait")
	if timeout < 0 {
		return fmt.Errorf("butex: Wait: timeout %v is negative (0 means no timeout)", timeout)
	}
	if b.value != expected {
		return ErrWouldBlock
	}
	if bt == nil {
		return b.waitFromPthread(expected, timeout)
	}
	rt := b.rt
	// The value may change while the bthread switches out; the waiter is
	// queued only after the switch, with the value checked again
	// (wait_for_butex).
	rt.env.Yield()
	// ButexBthreadWaiter::tag is g->tag(): the tag of the worker the
	// bthread waits from, which every wake and timeout then queues it
	// into. It is the bthread's own tag unless a misrouted wake (#2777)
	// moved it to another tag's worker: then it stays there (brpc read
	// the bthread's own tag only from #3351 on).
	wt := &waiter{bt: bt, tag: th.group.tag}
	bt.suspend(nil, func(g *Group) {
		if timeout > 0 {
			wt.timer = rt.env.AfterFunc(timeout, func() { rt.eraseFromButex(wt, waiterTimedOut) })
		}
		switch {
		case b.value != expected:
			wt.state = waiterUnmatched
		case wt.state == waiterReady:
			b.pushWaiter(wt)
			return
		}
		// Unmatched, or timed out before it was queued: back on the
		// worker's queue.
		rt.unsleep(wt)
		g.readyToRun(g.th, bt, false)
	})
	switch wt.state {
	case waiterUnmatched:
		return ErrWouldBlock
	case waiterTimedOut:
		return ErrTimedOut
	}
	return nil
}

// waitFromPthread is butex_wait_from_pthread: futex-wait outside the
// workers.
func (b *Butex) waitFromPthread(expected int, timeout time.Duration) error {
	rt := b.rt
	wt := &waiter{tag: -1, sig: rt.w.NewSignal("pthread butex wait")}
	b.pushWaiter(wt)
	if timeout <= 0 {
		for wt.state == waiterWaiting {
			wt.sig.Wait()
		}
		return nil
	}
	deadline := rt.env.Now().Add(timeout)
	for wt.state == waiterWaiting {
		left := rt.env.Until(deadline)
		if left <= 0 || !wt.sig.WaitTimeout(left) {
			break
		}
	}
	if wt.state == waiterWaiting {
		b.removeWaiter(wt)
		wt.state = waiterTimedOut
		return ErrTimedOut
	}
	return nil
}

func wakeupPthread(wt *waiter) { wt.sig.Broadcast() }

// unsleep is unsleep_if_necessary: cancel a woken waiter's timeout.
func (rt *Runtime) unsleep(wt *waiter) {
	if wt.timer != nil {
		wt.timer.Stop()
		wt.timer = nil
	}
}

// eraseFromButex is erase_from_butex_and_wakeup, run by the timer thread
// when a bthread's timeout passes: if the waiter is still queued it is
// taken off and rescheduled with a signal; if it is not yet queued it is
// marked, so it will not queue.
func (rt *Runtime) eraseFromButex(wt *waiter, state waiterState) {
	switch wt.state {
	case waiterReady:
		wt.state = state
	case waiterWaiting:
		wt.b.removeWaiter(wt)
		wt.state = state
		wt.timer = nil
		g := rt.getTaskGroup(rt.timer, wt.tag, false)
		rt.onWake(rt.timer, wt.bt, g, false, false)
		g.readyToRunGeneral(rt.timer, wt.bt, false)
	}
}

// getTaskGroup is butex.cpp's get_task_group: the group a woken bthread of
// tag is queued in by the calling thread th.
func (rt *Runtime) getTaskGroup(th *thread, tag Tag, nosignal bool) *Group {
	var g *Group
	if th.group != nil && th.group.tag == tag {
		g = th.group
	}
	if rt.opts.Variant == Buggy && nosignal {
		// BUG(#2777), brpc before #2778: a nosignal wake goes to the
		// group remembered in the calling pthread's
		// tls_task_group_nosignal, WHATEVER ITS TAG; the first such wake
		// picks it (the caller's own group if of the waiter's tag, else a
		// random group of the waiter's tag) and nothing on a worker ever
		// clears it.
		if th.nosignal == nil {
			if g == nil {
				g = rt.chooseOneGroup(tag)
			}
			th.nosignal = g
		} else {
			g = th.nosignal
		}
		return g
	}
	// #2778: same-tag worker's own group, else a random group of the tag.
	if g == nil {
		g = rt.chooseOneGroup(tag)
	}
	return g
}

// checkNosignal decides whether a wake into a group of tag may stay
// unsignalled, when the caller asked for nosignal.
func (rt *Runtime) checkNosignal(th *thread, nosignal bool, tag Tag) bool {
	if rt.opts.Variant == Buggy {
		// BUG(#2777): the caller's flag as is. The later bthread_flush on
		// a worker flushes only that worker's local count, so a remote
		// nosignal wake (another tag's group) is never signalled.
		return nosignal
	}
	// #2778 check_nosignal: batching only within the calling worker's
	// tag, which the caller's bthread_flush covers; cross-tag and pthread
	// wakes signal at once.
	return nosignal && th.group != nil && th.group.tag == tag
}

// wakeOne queues (or switches to) one woken bthread waiter, as the tail of
// butex_wake and butex_wake_n do.
func (rt *Runtime) wakeOne(th *thread, cur *Bthread, wt *waiter, nosignal bool) {
	g := rt.getTaskGroup(th, wt.tag, nosignal)
	if g == th.group {
		// run_in_local_task_group
		if nosignal {
			rt.onWake(th, wt.bt, g, true, true)
			g.readyToRun(th, wt.bt, true)
			return
		}
		rt.exchange(th, cur, g, wt.bt)
		return
	}
	ns := rt.checkNosignal(th, nosignal, g.tag)
	rt.onWake(th, wt.bt, g, nosignal, ns)
	g.readyToRunRemote(th, wt.bt, ns)
}

// exchange is TaskGroup::exchange: run next on this worker at once and
// requeue the current bthread (with a signal).
func (rt *Runtime) exchange(th *thread, cur *Bthread, g *Group, next *Bthread) {
	rt.onWake(th, next, g, false, false)
	if cur == nil {
		g.readyToRun(th, next, false)
		return
	}
	rt.stats.Exchanges++
	cur.suspend(next, func(g *Group) { g.readyToRun(g.th, cur, false) })
}

func (rt *Runtime) onWake(th *thread, bt *Bthread, into *Group, requested, unsignalled bool) {
	if h := rt.opts.Hooks.OnWake; h != nil {
		h(Wake{Waker: th.group, Bthread: bt, Into: into, Requested: requested, Unsignalled: unsignalled})
	}
}

// Wake is butex_wake: wake the first waiter and return 1, or 0 if none
// waits. A bthread waiter of the caller's worker's group is switched to at
// once (exchange) unless nosignal; with nosignal it is queued without a
// signal, and the caller is expected to call Flush when its batch is done.
func (b *Butex) Wake(c Caller, nosignal bool) int {
	th, cur := b.rt.callerOf(c, "Butex.Wake")
	wt := b.popWaiter()
	if wt == nil {
		return 0
	}
	if wt.bt == nil {
		wakeupPthread(wt)
		return 1
	}
	// waiter_lock is released: the waiter is off the list but not queued.
	b.rt.env.Yield()
	b.rt.unsleep(wt)
	b.rt.wakeOne(th, cur, wt, nosignal)
	return 1
}

// WakeN is butex_wake_n: wake up to n waiters (0: all) and return how many
// were woken. Pthread waiters are woken first; the bthread waiters after
// the first are queued without a signal (last first), the groups they went
// to are flushed unless the batch may stay unsignalled, and the first
// waiter is handled as Wake handles it. n must be >= 0.
func (b *Butex) WakeN(c Caller, n int, nosignal bool) int {
	if n < 0 {
		panic(fmt.Sprintf("butex: WakeN(n=%d): n must be >= 0 (0 wakes every waiter)", n))
	}
	th, cur := b.rt.callerOf(c, "Butex.WakeN")
	var bts, pts []*waiter
	for i := 0; (n == 0 || i < n) && len(b.waiters) > 0; i++ {
		wt := b.popWaiter()
		if wt.bt != nil {
			bts = append(bts, wt)
		} else {
			pts = append(pts, wt)
		}
	}
	for _, wt := range pts {
		wakeupPthread(wt)
	}
	if len(bts) == 0 {
		return len(pts)
	}
	rt := b.rt
	rt.env.Yield() // waiter_lock released
	next := bts[0]
	rt.unsleep(next)
	// touched is brpc's FlatMap<tag, TaskGroup*>: the last group each
	// tag's waiters went to; kept in tag order here.
	touched := make([]*Group, len(rt.tags))
	for i := len(bts) - 1; i >= 1; i-- {
		wt := bts[i]
		rt.unsleep(wt)
		g := rt.getTaskGroup(th, wt.tag, nosignal)
		batched := rt.checkNosignal(th, nosignal, g.tag)
		if !batched && touched[g.tag] == nil {
			rt.tags[g.tag].flushing++ // this call flushes the tag below
		}
		rt.onWake(th, wt.bt, g, nosignal, batched)
		g.readyToRunGeneral(th, wt.bt, true)
		touched[g.tag] = g
	}
	for _, g := range touched {
		if g != nil && !rt.checkNosignal(th, nosignal, g.tag) {
			g.flushNosignalTasksGeneral(th)
			rt.tags[g.tag].flushing--
		}
	}
	rt.wakeOne(th, cur, next, nosignal)
	return len(pts) + len(bts)
}

// WakeAll is butex_wake_all: WakeN with no limit.
func (b *Butex) WakeAll(c Caller, nosignal bool) int { return b.WakeN(c, 0, nosignal) }

// wakeExcept is butex_wake_except(b, 0), used to wake the joiners of an
// ending bthread: every waiter, bthreads queued without a signal and every
// touched group flushed at once.
func (b *Butex) wakeExcept(th *thread) {
	rt := b.rt
	var bts []*waiter
	for len(b.waiters) > 0 {
		wt := b.popWaiter()
		if wt.bt == nil {
			wakeupPthread(wt)
		} else {
			bts = append(bts, wt)
		}
	}
	if len(bts) == 0 {
		return
	}
	touched := make([]*Group, len(rt.tags))
	for i := len(bts) - 1; i >= 0; i-- {
		wt := bts[i]
		rt.unsleep(wt)
		g := rt.getTaskGroup(th, wt.tag, false)
		if touched[g.tag] == nil {
			rt.tags[g.tag].flushing++
		}
		rt.onWake(th, wt.bt, g, false, false)
		g.readyToRunGeneral(th, wt.bt, true)
		touched[g.tag] = g
	}
	for _, g := range touched {
		if g != nil {
			g.flushNosignalTasksGeneral(th)
			rt.tags[g.tag].flushing--
		}
	}
}

// Flush is bthread_flush: signal the tasks the caller queued without a
// signal. On a worker it flushes only that worker's own local count; on a
// pthread it flushes the remote count of the group in the pthread's
// tls_task_group_nosignal and forgets that group.
func (rt *Runtime) Flush(c Caller) {
	th, _ := rt.callerOf(c, "Flush")
	if g := th.group; g != nil {
		g.flushNosignalTasks(th)
		return
	}
	if g := th.nosignal; g != nil {
		th.nosignal = nil
		g.flushNosignalTasksRemote(th)
	}
}

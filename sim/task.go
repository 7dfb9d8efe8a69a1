package sim

import (
	"fmt"
	"math/bits"
	"runtime/debug"
	"time"
)

type taskState uint8

const (
	taskRunnable taskState = iota + 1
	taskRunning
	taskBlocked
	taskDone
)

// WaitKind says what a blocked task waits for.
type WaitKind uint8

const (
	WaitNone WaitKind = iota
	WaitSleep
	WaitMutex
	WaitRLock
	WaitLock
	WaitCond
	WaitWaitGroup
	WaitOnce
	WaitSend
	WaitRecv
	WaitSelect
	// WaitPreempted: descheduled by Strategy.Delays.
	WaitPreempted
	// WaitOther is for primitives outside the kernel (e.g. the network).
	WaitOther
)

var waitKindNames = [...]string{
	WaitNone: "nothing", WaitSleep: "Sleep", WaitMutex: "Mutex.Lock",
	WaitRLock: "RWMutex.RLock", WaitLock: "RWMutex.Lock", WaitCond: "Cond.Wait",
	WaitWaitGroup: "WaitGroup.Wait", WaitOnce: "Once.Do", WaitSend: "Chan.Send",
	WaitRecv: "Chan.Recv", WaitSelect: "Select", WaitPreempted: "preempted", WaitOther: "other",
}

func (k WaitKind) String() string {
	if int(k) < len(waitKindNames) {
		return waitKindNames[k]
	}
	return fmt.Sprintf("WaitKind(%d)", int(k))
}

// Waitable describes the object a blocked task waits on, for deadlock and
// leak reports. Primitives outside the kernel (the network) implement it.
type Waitable interface {
	// DescribeWait returns e.g. `mutex#2 (held by task 3 "writer")`.
	DescribeWait() string
}

// Task is a cooperative task: a Go function run as a coroutine by its World.
type Task struct {
	w      *World
	id     int
	name   string
	parent int
	fn     func()

	// co is the coroutine that runs the task (from the World's Pool).
	co *coro

	state    taskState
	waitKind WaitKind
	waitObj  Waitable
	// killed makes the task unwind (run its defers and exit) the next time
	// it is resumed; set at teardown and on host crashes.
	killed bool
	// unwinding is set once the unwind signal has been raised in the task,
	// so the scheduling points its deferred calls reach let them finish.
	unwinding bool

	// prio is the PCT priority (higher runs first).
	prio int64
	// calm exempts the task from Strategy.Delays (not in the swarm).
	calm bool
	// qnext links the task into one primitive's FIFO wait queue.
	qnext *Task
	// sleep is the task's own timer event for Sleep, so sleeping does not
	// allocate.
	sleep event
	// wakeClosed tells a task woken from a channel send that the channel
	// was closed (it must panic).
	wakeClosed bool
	// condSignalled tells Cond.Wait that a Signal reached the task before
	// it blocked.
	condSignalled bool
	// owner is free for packages built on the kernel (netmodel tags each
	// task with its host): see Owner.
	owner any
	owned *ownedSet // owner's index entry (nil for no owner)
}

// Owner returns the task's owner: nil, or what Spawn or SetOwner gave it.
// Owners are free for packages built on the kernel (netmodel tags each
// task with its host). A task inherits its creator's owner, and an
// AfterFunc task the owner of the task that made the timer. An owner must
// be comparable (a pointer, typically): owners are map keys.
func (t *Task) Owner() any { return t.owner }

// SetOwner changes the task's owner (see Owner and World.KillOwner).
func (t *Task) SetOwner(owner any) {
	if owner == t.owner {
		return
	}
	t.owner = owner
	t.w.indexTask(t)
}

// ID is the task's id: 1 for the first task of a run, in creation order.
func (t *Task) ID() int { return t.id }

// Name is the name given to Go.
func (t *Task) Name() string { return t.name }

// Done reports whether the task has returned.
func (t *Task) Done() bool { return t.state == taskDone }

// Kill makes the task unwind: if it is blocked it is woken and its blocking
// call panics with an internal signal, so its defers run and it exits. Used
// to model a crash. Kill on a finished task does nothing.
func (t *Task) Kill() {
	if t.state == taskDone || t.killed {
		return
	}
	t.killed = true
	if t.state == taskBlocked {
		t.w.detach(t)
		t.w.wake(t)
	}
}

// unwindSignal is the panic value that unwinds a killed task or a task that
// raised a violation. It is recovered by the task's wrapper.
type unwindSignal struct{}

func (t *Task) String() string { return fmt.Sprintf("task %d %q", t.id, t.name) }

func (w *World) spawn(name string, fn func(), parent *Task, owner any) *Task {
	w.nextID++
	t := &Task{w: w, id: w.nextID, name: name, fn: fn, state: taskRunnable}
	t.sleep.idx = -1
	t.sleep.kind = evSleep
	t.sleep.task = t
	if parent != nil {
		t.parent = parent.id
	}
	t.owner = owner
	w.indexTask(t)
	if st := w.opts.Strategy; st.Delays && st.DelaySwarm > 1 && st.Kind != FIFO {
		t.calm = draw(w.src, st.DelaySwarm) != 0
	}
	t.co = w.pool.get()
	if t.co == nil {
		t.co = newCoro()
	}
	t.co.t = t
	w.tasks = append(w.tasks, t)
	w.live++
	w.sched.spawned(t)
	w.runnable = append(w.runnable, t)
	w.record(TraceSpawn, t, int64(t.parent), "")
	return t
}

// body runs the task's function on its coroutine and turns panics into
// failures, so a panic never crosses into the World's loop. It returns
// false only when the task called runtime.Goexit, which ends the coroutine.
func (t *Task) body() bool {
	w := t.w
	normal := false
	defer func() {
		r := recover()
		switch {
		case r == nil && !normal:
			// runtime.Goexit: the coroutine ends with the task.
			t.co = nil
			w.fail(&Failure{Kind: Panic, Task: t.name, Stack: string(debug.Stack()),
				Message: fmt.Sprintf("task %q called runtime.Goexit (t.FailNow or t.Fatal inside a simulated task?); report problems with World.Violate instead", t.name)})
		case r != nil:
			if _, ok := r.(unwindSignal); !ok {
				w.fail(&Failure{Kind: Panic, Task: t.name, Value: r, Stack: string(debug.Stack()),
					Message: fmt.Sprintf("task %q panicked: %v", t.name, r)})
			}
		}
		w.exit(t)
	}()
	if !t.killed && !w.stopping {
		t.fn()
	}
	normal = true
	return true
}

func (w *World) exit(t *Task) {
	t.state = taskDone
	t.fn = nil
	t.co = nil // the loop returns it to the pool
	t.waitKind, t.waitObj = WaitNone, nil
	w.live--
	w.record(TraceExit, t, 0, "")
}

// cur returns the running task or panics with advice when a blocking
// primitive is called from outside any task.
func (w *World) cur(op string) *Task {
	t := w.current
	if t == nil {
		panic(fmt.Sprintf("sim: %s called outside a simulated task; call it from the function given to World.Run or Env.Go (not from the test goroutine, an invariant, or another World's task)", op))
	}
	return t
}

// schedPoint lets the strategy pick which runnable task goes next; the
// calling task stays runnable. Every primitive calls it (or block) once.
func (w *World) schedPoint(op string) *Task {
	t := w.cur(op)
	if t.killed && !t.unwinding {
		w.unwind(t)
	}
	if w.stopping || t.unwinding {
		// The run is ending or the task is unwinding: let it finish
		// without further scheduling.
		return t
	}
	if w.opts.Strategy.Delays && !t.calm && w.opts.Strategy.Kind != FIFO && w.mainTask.state != taskDone && draw(w.src, w.delayOdds) == 0 {
		// Preempted: the task is descheduled for a while (Strategy.Delays)
		// and everything else runs meanwhile.
		w.schedule(&t.sleep, w.now+w.preemptDelay())
		w.block(t, WaitPreempted, nil)
		return t
	}
	t.state = taskRunnable
	w.runnable = append(w.runnable, t)
	if w.inlineStep(t) {
		return t
	}
	w.switchOut(t)
	return t
}

// preemptDelay draws how long a preempted task stays descheduled:
// log-uniform between 1µs and MaxDelay (an octave first, then a point in
// it), because real scheduling delays are heavy-tailed: mostly short,
// sometimes long. Integer arithmetic only.
func (w *World) preemptDelay() int64 {
	const unit = int64(time.Microsecond)
	octaves := bits.Len64(uint64(max(w.maxDelay/unit, 1))) // 2^(octaves-1) µs <= MaxDelay
	lo := unit << draw(w.src, octaves)
	d := lo + int64(draw(w.src, int(min(lo, 1<<30))))
	return min(d, w.maxDelay)
}

// block parks t until another task or event wakes it.
func (w *World) block(t *Task, kind WaitKind, obj Waitable) {
	t.waitKind, t.waitObj = kind, obj
	if w.stopping || t.killed {
		// The caller has already queued t on obj (and maybe armed its
		// sleep timer): take it off again, or a later wake would find a
		// finished task.
		w.detach(t)
		t.waitKind, t.waitObj = WaitNone, nil
		w.unwind(t)
	}
	t.state = taskBlocked
	w.fp.fold(traceWord(TraceBlock, t.id, int64(kind)))
	if w.opts.Trace {
		w.appendTrace(TraceBlock, t, int64(kind), "")
	}
	w.switchOut(t)
	t.waitKind, t.waitObj = WaitNone, nil
}

// switchOut returns control to the World's loop until t is resumed.
func (w *World) switchOut(t *Task) {
	t.co.yield(struct{}{})
	if t.killed {
		w.unwind(t)
	}
}

// unwind raises the unwind signal in t (the running task): its defers run
// and its wrapper recovers the signal.
func (w *World) unwind(t *Task) {
	t.unwinding = true
	panic(unwindSignal{})
}

// wake makes a blocked task runnable.
func (w *World) wake(t *Task) {
	if t.state != taskBlocked {
		panic(fmt.Sprintf("sim: internal error: waking %v in state %d", t, t.state))
	}
	t.state = taskRunnable
	w.runnable = append(w.runnable, t)
	w.fp.fold(traceWord(TraceWake, t.id, 0))
	if w.opts.Trace {
		w.appendTrace(TraceWake, t, 0, "")
	}
}

// detach removes a blocked task from whatever it waits on, for Kill.
func (w *World) detach(t *Task) {
	if t.sleep.idx >= 0 {
		w.events.remove(&t.sleep)
	}
	if d, ok := t.waitObj.(detacher); ok {
		d.detach(t)
	}
}

// detacher is implemented by wait objects that can drop a waiter.
type detacher interface{ detach(t *Task) }

// taskQueue is an intrusive FIFO of blocked tasks.
type taskQueue struct{ head, tail *Task }

func (q *taskQueue) push(t *Task) {
	t.qnext = nil
	if q.tail == nil {
		q.head = t
	} else {
		q.tail.qnext = t
	}
	q.tail = t
}

func (q *taskQueue) pop() *Task {
	t := q.head
	if t == nil {
		return nil
	}
	q.head = t.qnext
	if q.head == nil {
		q.tail = nil
	}
	t.qnext = nil
	return t
}

func (q *taskQueue) remove(t *Task) {
	var prev *Task
	for p := q.head; p != nil; prev, p = p, p.qnext {
		if p == t {
			if prev == nil {
				q.head = p.qnext
			} else {
				prev.qnext = p.qnext
			}
			if q.tail == p {
				q.tail = prev
			}
			p.qnext = nil
			return
		}
	}
}

func (q *taskQueue) empty() bool { return q.head == nil }

package sim

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"
)

// World is one simulated run: a virtual clock, an event queue, a set of
// tasks and their scheduler, random streams, and the resulting fingerprint.
// Nothing is global, so any number of Worlds can run in parallel. A World
// runs once; make a new one for the next seed.
//
// World implements Env. Its methods that block or schedule must be called
// from a task of this World; Go, ScheduleFunc, Invariant and Rand may also be
// called before Run.
type World struct {
	opts      Options
	src       Source
	sched     scheduler
	start     time.Time
	maxSteps  int64
	maxTime   int64
	maxDelay  int64
	delayOdds int

	now    int64 // virtual ns since start
	seq    uint64
	fired  int64 // events fired so far
	events eventHeap

	tasks    []*Task // every task, in creation order
	runnable []*Task // in the order they became runnable
	current  *Task
	last     *Task
	mainTask *Task
	nextID   int
	live     int
	objID    int

	steps       int64
	fp          fingerprint
	trace       []TraceEvent
	checkpoints []uint64

	failure  *Failure
	stopping bool
	started  bool
	loopDone bool

	invariants []invariant
	streams    map[string]*Rand
	logger     *slog.Logger
	background *simCtx

	// For the escape watchdog: progress is odd while a task runs.
	progress atomic.Uint64
	curTask  atomic.Pointer[Task]
	escaped  atomic.Bool
	// fpAtEscape is the fingerprint before the current step, reported if
	// that step escapes (the escaped task may still be writing w.fp).
	fpAtEscape uint64

	// handoff is a task the inline path of a scheduling point already
	// picked (and recorded) for the next step: the loop resumes it at
	// once. stepEnded says the inline path already ended the step that
	// was running (checkpoint, invariants), so the loop must not again.
	handoff   *Task
	stepEnded bool

	// pool gives tasks their coroutines (Options.Pool, or the World's
	// own, closed at teardown).
	pool    *Pool
	ownPool bool
	// sigFree and opFree recycle Signal waiters and Select operations.
	sigFree []*sigWaiter
	// owned indexes tasks and timers by owner, for KillOwner.
	owned  map[any]*ownedSet
	opFree []*selectOp
}

type invariant struct {
	name  string
	check func() error
}

// New returns a World configured by opts, or an error naming the first
// invalid field.
func New(opts Options) (*World, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	w := &World{opts: opts, fp: fingerprintInit, streams: map[string]*Rand{}, pool: opts.Pool}
	if w.pool == nil {
		w.pool, w.ownPool = NewPool(0), true
	}
	w.src = opts.Source
	if w.src == nil {
		w.src = NewRand(deriveSeed(opts.Seed, "sim/decisions"))
	}
	w.sched = newScheduler(opts.Strategy, w.src)
	w.start = opts.Start
	if w.start.IsZero() {
		w.start = DefaultStart
	}
	w.maxSteps = cmp.Or(opts.MaxSteps, DefaultMaxSteps)
	w.maxTime = int64(cmp.Or(opts.MaxTime, DefaultMaxTime))
	w.maxDelay = int64(cmp.Or(opts.Strategy.MaxDelay, DefaultMaxDelay))
	w.delayOdds = cmp.Or(opts.Strategy.DelayOdds, DefaultDelayOdds)
	if w.opts.EscapeGrace == 0 {
		w.opts.EscapeGrace = DefaultEscapeGrace
	}
	out := opts.Log
	if out == nil {
		out = io.Discard
	}
	w.logger = slog.New(&logHandler{w: w, h: slog.NewTextHandler(out, nil)})
	w.fp.fold(opts.Seed)
	return w, nil
}

// Run starts main as the task "main" and runs the World until main returns
// (like a Go program), a failure is found, or a budget runs out. Other tasks
// still alive when main returns are unwound (their defers run); with
// Options.CheckLeaks they are first reported as a leak. Run returns an error
// only for misuse (nil main, second Run); a failing run is a Result with a
// Failure.
func (w *World) Run(main func()) (Result, error) {
	if main == nil {
		return Result{}, fmt.Errorf("sim: World.Run: main task function is nil")
	}
	if w.started {
		return Result{}, ErrRunTwice
	}
	w.started = true
	wallStart := time.Now()
	w.mainTask = w.spawn("main", main, nil, nil)

	done := make(chan struct{})
	go func() {
		defer close(done)
		w.loop()
	}()
	if esc := w.watch(done); esc != nil {
		// The loop goroutine is stuck inside the escaped task; report now.
		// If the task ever returns to the World, the loop sees w.escaped,
		// unwinds every task and exits.
		return Result{
			Seed: w.opts.Seed, Strategy: w.opts.Strategy, Steps: esc.Step,
			Elapsed: esc.Time, Fingerprint: w.fpAtEscape, Failure: esc,
			Wall: time.Since(wallStart),
		}, nil
	}
	return Result{
		Seed: w.opts.Seed, Strategy: w.opts.Strategy, Steps: w.steps,
		Elapsed: time.Duration(w.now), Fingerprint: w.fp.sum(), Failure: w.failure,
		Trace: w.trace, Checkpoints: w.checkpoints, Wall: time.Since(wallStart),
	}, nil
}

// loop is the scheduler: fire due events, pick a runnable task, resume it
// for one step, check invariants; advance the clock when nothing can run.
func (w *World) loop() {
	defer func() {
		// Also reached when runtime.Goexit propagates out of a task.
		if !w.loopDone {
			w.loopDone = true
			w.teardown()
		}
	}()
	for w.failure == nil && !w.stopping {
		if len(w.tasks) >= 1024 && w.live < len(w.tasks)/2 {
			w.compactTasks()
		}
		mainDone := w.mainTask.state == taskDone
		if mainDone && !w.opts.CheckLeaks {
			break
		}
		w.fireDue()
		if w.stopping {
			// An event's callback ended the run (a violation): stop
			// here, with the clock where the failure happened.
			break
		}
		if len(w.runnable) == 0 {
			if mainDone {
				// Tasks preempted by Strategy.Delays are not stuck: let the
				// clock reach them before judging leaks.
				if at, ok := w.nextPreempted(); ok {
					w.now = at
					w.record(TraceAdvance, nil, at, "")
					continue
				}
				w.checkLeaks()
				break
			}
			if len(w.events) == 0 {
				w.deadlock()
				break
			}
			next := w.events[0].when
			if next > w.maxTime {
				w.fail(&Failure{Kind: Budget, Message: fmt.Sprintf(
					"virtual-time budget of %v exhausted (next event at %v): a hang, or a run longer than Options.MaxTime",
					time.Duration(w.maxTime), time.Duration(next))})
				break
			}
			w.now = next
			w.record(TraceAdvance, nil, next, "")
			continue
		}
		if w.steps >= w.maxSteps {
			w.fail(&Failure{Kind: Budget, Message: fmt.Sprintf(
				"step budget of %d exhausted: a livelock, or a run longer than Options.MaxSteps", w.maxSteps)})
			break
		}
		w.resume(w.pickNext())
		for w.handoff != nil {
			t := w.handoff
			w.handoff = nil
			w.resume(t)
		}
		if w.stepEnded {
			w.stepEnded = false
			continue
		}
		if !w.endStep() {
			break
		}
	}
	w.loopDone = true
	w.teardown()
}

// pickNext starts a step: the strategy picks the runnable task to run.
func (w *World) pickNext() *Task {
	w.steps++
	i := w.sched.pick(w.runnable, w.steps, w.last)
	r := w.runnable
	t := r[i]
	// Remove r[i], keeping the order (picks are indices into it). A plain
	// loop: the list is short, and slices.Delete's bulk move and clear
	// (with their write barriers) cost more than the shift.
	n := len(r) - 1
	for ; i < n; i++ {
		r[i] = r[i+1]
	}
	r[n] = nil
	w.runnable = r[:n]
	w.last = t
	w.fp.fold(traceWord(TraceRun, t.id, 0))
	if w.opts.Trace {
		w.appendTrace(TraceRun, t, 0, "")
	}
	return t
}

// endStep ends a step: a checkpoint, the escape check and the invariants.
// It returns false if the run must stop at once (a task escaped).
func (w *World) endStep() bool {
	if k := w.opts.CheckpointEvery; k > 0 && w.steps%k == 0 {
		w.checkpoints = append(w.checkpoints, w.fp.sum())
	}
	if w.escaped.Load() {
		w.stopping = true
		return false
	}
	if len(w.invariants) > 0 && w.failure == nil {
		w.checkInvariants()
	}
	return true
}

// inlineStep is the fast path of a scheduling point at which t stays
// runnable: it does, on t's own coroutine, exactly what the loop would do
// after t yields (end the step, start the next, let the strategy pick), so
// the decisions, the trace and the fingerprint are the loop's. When the
// strategy picks t again (most points under PCT, one in the number of
// runnable tasks under random) t just goes on, without the two coroutine
// switches through the loop. It returns false if t must yield: another task
// was picked (w.handoff, which the loop resumes at once), or the next step
// needs the loop (an event is due, the clock must move, the run ends, the
// task list is compacted); t is then runnable and still marked running
// until it yields.
func (w *World) inlineStep(t *Task) bool {
	if w.escaped.Load() {
		return false
	}
	w.current = nil
	ok := w.endStep()
	w.current = t
	if !ok || w.failure != nil || w.stopping || w.mainTask.state == taskDone ||
		w.steps >= w.maxSteps ||
		(len(w.events) > 0 && w.events[0].when <= w.now) ||
		(len(w.tasks) >= 1024 && w.live < len(w.tasks)/2) {
		w.stepEnded = true
		return false
	}
	n := w.pickNext()
	if n != t {
		w.handoff = n
		return false
	}
	// The loop's resume(t), without the switch.
	t.state = taskRunning
	w.fpAtEscape = w.fp.sum()
	w.progress.Add(2)
	return true
}

// compactTasks drops finished tasks from w.tasks, keeping the others in
// order (every walk over the tasks sees the same sequence as before), so
// that runs that spawn many short tasks do not keep them all (nor walk
// them again in nextPreempted and the reports). Called from the loop,
// never while a task runs.
func (w *World) compactTasks() {
	kept := w.tasks[:0]
	for _, t := range w.tasks {
		if t.state != taskDone {
			kept = append(kept, t)
		}
	}
	clear(w.tasks[len(kept):])
	w.tasks = kept
}

// nextPreempted returns when the earliest preempted task wakes.
func (w *World) nextPreempted() (int64, bool) {
	var at int64
	found := false
	for _, t := range w.tasks {
		if t.state == taskBlocked && t.waitKind == WaitPreempted && (!found || t.sleep.when < at) {
			at, found = t.sleep.when, true
		}
	}
	return at, found
}

// resume runs t until it blocks, yields or returns.
func (w *World) resume(t *Task) {
	w.current = t
	t.state = taskRunning
	w.curTask.Store(t)
	w.fpAtEscape = w.fp.sum()
	w.progress.Add(1)
	w.switchTo(t)
	w.progress.Add(1)
	w.current = nil
}

// switchTo runs t's coroutine until it yields; if t returned, the
// coroutine goes back to the pool (or ends if the pool is full or closed).
func (w *World) switchTo(t *Task) {
	co := t.co
	co.next()
	if co.idle && !w.pool.put(co) {
		co.stop()
	}
}

// fail records the run's first failure and makes the run stop.
func (w *World) fail(f *Failure) {
	if w.failure == nil {
		f.Step = w.steps
		f.Time = time.Duration(w.now)
		w.failure = f
	}
	w.stopping = true
}

// Violate records that the named property failed, which ends the run with a
// Violation. Called from a task, it also unwinds that task at once.
func (w *World) Violate(property, format string, args ...any) {
	f := &Failure{Kind: Violation, Property: property, Message: property + ": " + fmt.Sprintf(format, args...)}
	if w.current != nil {
		f.Task = w.current.name
	}
	w.fail(f)
	if t := w.current; t != nil && !w.loopDone {
		w.unwind(t)
	}
}

// Invariant registers a safety property checked after every step; a non-nil
// error ends the run with a Violation naming the property. check runs in the
// World's loop, not in a task: it must not block.
func (w *World) Invariant(name string, check func() error) {
	w.invariants = append(w.invariants, invariant{name, check})
}

func (w *World) checkInvariants() {
	i := 0
	defer func() {
		if r := recover(); r != nil {
			inv := w.invariants[i]
			w.fail(&Failure{Kind: Violation, Property: inv.name, Message: fmt.Sprintf("%s: invariant panicked: %v", inv.name, r)})
		}
	}()
	for ; i < len(w.invariants); i++ {
		inv := w.invariants[i]
		if err := inv.check(); err != nil {
			w.fail(&Failure{Kind: Violation, Property: inv.name, Message: inv.name + ": " + err.Error()})
			return
		}
	}
}

// Failed reports whether the run has already failed (useful in tasks that
// loop until the run ends).
func (w *World) Failed() bool { return w.failure != nil }

// Steps is the number of scheduling steps taken so far.
func (w *World) Steps() int64 { return w.steps }

// Elapsed is the virtual time since the start of the run.
func (w *World) Elapsed() time.Duration { return time.Duration(w.now) }

// Current returns the running task, or nil outside tasks.
func (w *World) Current() *Task { return w.current }

// Note records a free-form note in the trace and the fingerprint.
func (w *World) Note(detail string) {
	w.record(TraceNote, w.current, int64(len(detail)), detail)
}

func (w *World) blockedTasks() []BlockedTask {
	var out []BlockedTask
	for _, t := range w.tasks {
		if t.state == taskDone {
			continue
		}
		out = append(out, BlockedTask{ID: t.id, Name: t.name, WaitsOn: w.describeWait(t)})
	}
	return out
}

func (w *World) describeWait(t *Task) string {
	switch t.state {
	case taskRunnable:
		return "runnable"
	case taskRunning:
		return "running"
	}
	s := t.waitKind.String()
	if t.waitKind == WaitSleep {
		return fmt.Sprintf("Sleep until t=%v", time.Duration(t.sleep.when))
	}
	if t.waitObj != nil {
		s += " on " + t.waitObj.DescribeWait()
	}
	return s
}

func (w *World) deadlock() {
	blocked := w.blockedTasks()
	w.fail(&Failure{Kind: Deadlock, Blocked: blocked, Message: fmt.Sprintf(
		"all tasks are blocked and no event is pending (%d blocked)", len(blocked))})
}

func (w *World) checkLeaks() {
	blocked := w.blockedTasks()
	var timers []string
	evs := slices.Clone(w.events)
	slices.SortFunc(evs, func(a, b heapEntry) int {
		return cmp.Or(cmp.Compare(a.when, b.when), cmp.Compare(a.key, b.key))
	})
	for _, he := range evs {
		e := he.e
		if e.kind == evSleep || e.kind == evCall {
			continue
		}
		timers = append(timers, e.tm.describe(e))
	}
	if len(blocked) == 0 && len(timers) == 0 {
		return
	}
	w.fail(&Failure{Kind: Leak, Blocked: blocked, Timers: timers, Message: fmt.Sprintf(
		"main returned with %d task(s) still alive and %d timer(s) still pending", len(blocked), len(timers))})
}

// teardown unwinds every remaining task, so the World leaves no goroutine
// behind. Tasks started during teardown are unwound before they run.
func (w *World) teardown() {
	w.stopping = true
	// A task whose deferred code recovers the unwind signal and blocks again
	// is unwound again; give up on it after a bounded number of rounds.
	for round := 0; round < 100; round++ {
		progressed := false
		for i := 0; i < len(w.tasks); i++ {
			t := w.tasks[i]
			if t.state == taskDone {
				continue
			}
			progressed = true
			t.killed = true
			if t.state == taskBlocked {
				// Take it off what it waits on first: its deferred calls
				// may signal that very object.
				w.detach(t)
			}
			w.current = t
			t.state = taskRunning
			w.switchTo(t)
			w.current = nil
		}
		if !progressed {
			break
		}
	}
	for _, t := range w.tasks {
		if t.co != nil {
			// Still not done after every round: end its coroutine.
			t.co.stop()
		}
	}
	if w.ownPool {
		w.pool.Close()
	}
	w.runnable = nil
	for _, he := range w.events {
		he.e.idx = -1 // no longer queued: Pending is false, Cancel a no-op
	}
	w.events = nil
}

package sim

import (
	"fmt"
	"strings"
	"time"
)

// FailureKind classifies how a run failed.
type FailureKind int

const (
	// Deadlock: no task can run and no event is pending, yet some task is
	// blocked.
	Deadlock FailureKind = iota + 1
	// Leak: with Options.CheckLeaks, tasks or timers were still alive when
	// the main task returned.
	Leak
	// Panic: a task panicked (or called runtime.Goexit).
	Panic
	// Violation: a named property failed.
	Violation
	// Budget: the step or virtual-time budget ran out (a livelock or hang).
	Budget
	// Escape: a task blocked outside the simulator (native channel,
	// sync.Mutex, time.Sleep, a syscall) or spun without yielding.
	Escape
)

func (k FailureKind) String() string {
	switch k {
	case Deadlock:
		return "deadlock"
	case Leak:
		return "leak"
	case Panic:
		return "panic"
	case Violation:
		return "violation"
	case Budget:
		return "budget"
	case Escape:
		return "escape"
	}
	return fmt.Sprintf("FailureKind(%d)", int(k))
}

// BlockedTask describes a task that could not proceed, for deadlock and
// leak reports.
type BlockedTask struct {
	ID   int
	Name string
	// WaitsOn says what the task is blocked on, e.g.
	// `Mutex.Lock on mutex#2 (held by task 3 "writer")`.
	WaitsOn string
}

// Failure is why a run failed. It is a value: runs never crash the caller.
type Failure struct {
	Kind FailureKind
	// Task is the name of the task involved (panic, escape, violation
	// raised from a task), if any.
	Task string
	// Property is the violated property's name (Violation only).
	Property string
	// Message is a one-paragraph human explanation.
	Message string
	// Value is the recovered panic value (Panic only).
	Value any
	// Stack is the panicking or escaped task's stack, if known.
	Stack string
	// Blocked lists blocked tasks (Deadlock, Leak), in creation order.
	Blocked []BlockedTask
	// Timers lists timers still pending (Leak).
	Timers []string
	// Step and Time are when the failure was detected.
	Step int64
	Time time.Duration
}

// Error renders the failure on one line, followed by its details.
func (f *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at step %d, t=%v: %s", f.Kind, f.Step, f.Time, f.Message)
	for _, t := range f.Blocked {
		fmt.Fprintf(&b, "\n  task %d %q: %s", t.ID, t.Name, t.WaitsOn)
	}
	for _, t := range f.Timers {
		fmt.Fprintf(&b, "\n  %s", t)
	}
	return b.String()
}

// Result is the outcome of one run.
type Result struct {
	Seed     uint64
	Strategy Strategy
	// Steps is the number of scheduling steps taken.
	Steps int64
	// Elapsed is the virtual time from the start to the end of the run.
	Elapsed time.Duration
	// Fingerprint folds every decision and event of the run: equal inputs
	// give equal fingerprints.
	Fingerprint uint64
	// Failure is nil when the run passed.
	Failure *Failure
	// Trace holds the recorded events when Options.Trace was set.
	Trace []TraceEvent
	// Checkpoints holds the fingerprint after every Options.CheckpointEvery
	// steps.
	Checkpoints []uint64
	// Wall is the real time the run took.
	Wall time.Duration
}

// Passed reports whether the run ended without failure.
func (r Result) Passed() bool { return r.Failure == nil }

func (r Result) String() string {
	status := "pass"
	if r.Failure != nil {
		status = "FAIL " + r.Failure.Kind.String()
	}
	return fmt.Sprintf("seed=%d strategy=%s steps=%d time=%v fingerprint=%016x %s",
		r.Seed, r.Strategy, r.Steps, r.Elapsed, r.Fingerprint, status)
}

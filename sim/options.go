package sim

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Options configure a World. The zero value is valid: seed 0, the random
// strategy, default budgets, no trace.
type Options struct {
	// Seed determines every random draw of the run: the decision source
	// (unless Source is set) and every named stream from Env.Rand.
	Seed uint64
	// Strategy picks the next task at each scheduling point. Zero is Random.
	Strategy Strategy
	// Source, if non-nil, replaces the seeded decision source (for example
	// with one driven by rapid or by go test -fuzz bytes). Named random
	// streams still derive from Seed.
	Source Source
	// MaxSteps bounds the number of scheduling steps; running out is a
	// budget failure (a livelock or a hang). 0 means DefaultMaxSteps.
	MaxSteps int64
	// MaxTime bounds virtual time since the start of the run; the clock
	// reaching it is a budget failure. 0 means DefaultMaxTime.
	MaxTime time.Duration
	// Start is the virtual clock's initial reading. Zero means
	// 2000-01-01T00:00:00Z, as in testing/synctest.
	Start time.Time
	// CheckLeaks requires quiescence when the main task returns: once the
	// tasks still runnable at that instant have settled (without advancing
	// the clock), any task still alive or any timer still pending is a leak
	// failure.
	CheckLeaks bool
	// Trace records every scheduling decision and event in Result.Trace.
	// The fingerprint is computed whether or not the trace is kept.
	Trace bool
	// CheckpointEvery, if positive, records the fingerprint after every
	// CheckpointEvery steps in Result.Checkpoints, so two runs that should
	// be identical can be compared to find where they diverged.
	CheckpointEvery int64
	// EscapeGrace is how long, in real time, one step may run without
	// returning to the World before the task is reported as escaped (blocked
	// outside the simulator: a native channel, sync.Mutex, time.Sleep, a
	// syscall, or a busy loop). 0 means DefaultEscapeGrace.
	EscapeGrace time.Duration
	// Log receives the output of Env.Logger, stamped with virtual time and
	// the task name. Nil discards it.
	Log io.Writer
	// Pool, if non-nil, lends tasks coroutines kept from earlier runs (see
	// Pool); runs made one after another, as in a sweep, go faster with
	// one. Nil gives the run a pool of its own. No decision depends on it.
	Pool *Pool
}

const (
	// DefaultMaxSteps is the step budget when Options.MaxSteps is 0.
	DefaultMaxSteps = 10_000_000
	// DefaultMaxTime is the virtual-time budget when Options.MaxTime is 0.
	DefaultMaxTime = 24 * time.Hour
	// DefaultEscapeGrace is the watchdog's grace when Options.EscapeGrace is 0.
	DefaultEscapeGrace = 5 * time.Second
)

// DefaultStart is the virtual clock's reading at the start of a run.
var DefaultStart = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Validate reports the first invalid field, naming it and its value.
func (o Options) Validate() error {
	if o.MaxSteps < 0 {
		return fmt.Errorf("sim: Options.MaxSteps = %d: must be >= 0 (0 means %d)", o.MaxSteps, DefaultMaxSteps)
	}
	if o.MaxTime < 0 {
		return fmt.Errorf("sim: Options.MaxTime = %v: must be >= 0 (0 means %v)", o.MaxTime, DefaultMaxTime)
	}
	if o.CheckpointEvery < 0 {
		return fmt.Errorf("sim: Options.CheckpointEvery = %d: must be >= 0", o.CheckpointEvery)
	}
	if o.EscapeGrace < 0 {
		return fmt.Errorf("sim: Options.EscapeGrace = %v: must be >= 0 (0 means %v)", o.EscapeGrace, DefaultEscapeGrace)
	}
	return o.Strategy.validate()
}

// ErrRunTwice is returned by Run on a World that has already run.
var ErrRunTwice = errors.New("sim: World.Run called twice: a World runs once; make a new one with sim.New")

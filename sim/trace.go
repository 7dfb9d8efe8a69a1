package sim

import (
	"fmt"
	"time"
)

// TraceKind says what a trace event records.
type TraceKind uint8

const (
	// TraceRun: the strategy picked Task to run for one step.
	TraceRun TraceKind = iota + 1
	// TraceSpawn: Task was created (Arg is the parent's id, or 0).
	TraceSpawn
	// TraceBlock: Task blocked (Arg is the WaitKind).
	TraceBlock
	// TraceWake: Task became runnable again.
	TraceWake
	// TraceExit: Task returned (or was unwound).
	TraceExit
	// TraceTimer: a timer, sleep or scheduled event fired (Arg is its
	// event kind; Task is its owner, if any).
	TraceTimer
	// TraceAdvance: the clock jumped forward (Arg is the new time in ns).
	TraceAdvance
	// TraceChoice: a Select chose among ready cases (Arg is the index).
	TraceChoice
	// TraceNote: a note from the simulated program (Detail).
	TraceNote
)

var traceKindNames = [...]string{
	TraceRun: "run", TraceSpawn: "spawn", TraceBlock: "block", TraceWake: "wake",
	TraceExit: "exit", TraceTimer: "timer", TraceAdvance: "advance",
	TraceChoice: "choice", TraceNote: "note",
}

func (k TraceKind) String() string {
	if int(k) < len(traceKindNames) && traceKindNames[k] != "" {
		return traceKindNames[k]
	}
	return fmt.Sprintf("TraceKind(%d)", int(k))
}

// TraceEvent is one recorded decision or event. Events are recorded in the
// order they happen.
type TraceEvent struct {
	// Step is the scheduling step during or before which the event happened.
	Step int64
	// Time is virtual time since the start of the run.
	Time time.Duration
	Kind TraceKind
	// Task and TaskName identify the task concerned (0 and "" for none).
	Task     int
	TaskName string
	// Arg is a kind-specific number (see TraceKind).
	Arg int64
	// Detail is a kind-specific text (TraceNote, TraceBlock).
	Detail string
}

func (e TraceEvent) String() string {
	s := fmt.Sprintf("%6d %12v %-7s", e.Step, e.Time, e.Kind)
	if e.Task != 0 {
		s += fmt.Sprintf(" task %d %q", e.Task, e.TaskName)
	}
	if e.Kind == TraceBlock {
		s += " on " + WaitKind(e.Arg).String()
	} else if e.Arg != 0 {
		s += fmt.Sprintf(" arg=%d", e.Arg)
	}
	if e.Detail != "" {
		s += " " + e.Detail
	}
	return s
}

// fingerprint folds a sequence of 64-bit words into one 64-bit hash. It is a
// multiply-xorshift fold with a full-avalanche final step, cheap enough to
// run on every step and identical on every architecture.
type fingerprint uint64

const fingerprintInit fingerprint = 0x6a09e667f3bcc908

func (f *fingerprint) fold(x uint64) {
	h := uint64(*f) ^ x
	h *= 0xff51afd7ed558ccd
	h ^= h >> 32
	*f = fingerprint(h)
}

func (f fingerprint) sum() uint64 { return mix64(uint64(f)) }

// record folds an event into the fingerprint and, if tracing, appends it.
// The hottest call sites (a step's run, block, wake and timer) do the same
// inline: w.fp.fold(traceWord(...)), then appendTrace if tracing.
func (w *World) record(kind TraceKind, t *Task, arg int64, detail string) {
	id := 0
	if t != nil {
		id = t.id
	}
	w.fp.fold(traceWord(kind, id, arg))
	if w.opts.Trace {
		w.appendTrace(kind, t, arg, detail)
	}
}

// traceWord is the word an event folds into the fingerprint.
func traceWord(kind TraceKind, id int, arg int64) uint64 {
	return uint64(kind)<<56 ^ uint64(id)<<24 ^ uint64(arg)
}

// appendTrace appends an event (already folded) to the trace.
func (w *World) appendTrace(kind TraceKind, t *Task, arg int64, detail string) {
	id, name := 0, ""
	if t != nil {
		id, name = t.id, t.name
	}
	w.trace = append(w.trace, TraceEvent{
		Step: w.steps, Time: time.Duration(w.now), Kind: kind,
		Task: id, TaskName: name, Arg: arg, Detail: detail,
	})
}

package butex

import (
	"errors"
	"fmt"
	"time"
)

// Variant selects the historical behaviour of the butex wake paths.
type Variant string

const (
	// Buggy is brpc before PR #2778 (issue #2777): nosignal wakes go to the
	// calling thread's tls_task_group_nosignal whatever the waiter's tag,
	// and cross-tag nosignal wakes are never signalled by bthread_flush on
	// a worker.
	Buggy Variant = "buggy"
	// Fixed is PR #2778 (brpc 1.11.0): batched (nosignal) wakes only within
	// the calling worker's tag; every other wake signals at once.
	Fixed Variant = "fixed"
)

func (v Variant) String() string { return string(v) }

// ParseVariant accepts "buggy" and "fixed" ("" means Fixed).
func ParseVariant(s string) (Variant, error) {
	switch s {
	case "", string(Fixed):
		return Fixed, nil
	case string(Buggy):
		return Buggy, nil
	}
	return "", fmt.Errorf("butex: unknown variant %q (want buggy or fixed)", s)
}

// Tag names a worker pool (bthread_tag_t). Tags are 0..len(Options.Workers)-1.
type Tag int

// TagInvalid is BTHREAD_TAG_INVALID: a bthread started with it takes the
// caller's tag (see Runtime.Start).
const TagInvalid Tag = -1

// Defaults (brpc's flags and constants).
const (
	// DefaultParkingLots is PARKING_LOT_NUM: parking lots per tag.
	DefaultParkingLots = 4
	// DefaultSignalCap is signal_task's cap on workers woken per call.
	DefaultSignalCap = 2
	// DefaultRunQueueCap is FLAGS_task_group_runqueue_capacity.
	DefaultRunQueueCap = 4096
	// DefaultFullQueueBackoff is the usleep(1000) of ready_to_run* when a
	// run queue is full.
	DefaultFullQueueBackoff = time.Millisecond
	// MaxWorkersPerTag bounds Options.Workers[t]: steal offsets are primes
	// above it, so a steal round visits every group of the tag.
	MaxWorkersPerTag = 64
)

// Options configure a Runtime.
type Options struct {
	// Workers is the number of workers (TaskGroups, one pthread each) of
	// every tag: Workers[t] for tag t, each in [1, MaxWorkersPerTag].
	// len(Workers) is FLAGS_task_group_ntags and must be at least 1.
	Workers []int
	// ParkingLots is PARKING_LOT_NUM, the parking lots of each tag. 0 means
	// DefaultParkingLots.
	ParkingLots int
	// SignalCap is how many parked workers one signal_task call may wake
	// at most. 0 means DefaultSignalCap.
	SignalCap int
	// RunQueueCap is the capacity of each group's local run queue; the
	// remote queue holds half as many (at least 1). 0 means
	// DefaultRunQueueCap. A push into a full queue flushes the pending
	// signals and retries after FullQueueBackoff, as brpc does.
	RunQueueCap int
	// FullQueueBackoff is the retry delay when a run queue is full. 0 means
	// DefaultFullQueueBackoff.
	FullQueueBackoff time.Duration
	// Variant is the wake-path behaviour. "" means Fixed.
	Variant Variant
	// Hooks observe the runtime (for properties and tests).
	Hooks Hooks
}

// Hooks are called synchronously on the task doing the work. They must not
// block or call back into the runtime, except where a hook says so.
type Hooks struct {
	// OnRun is called on a bthread's task each time a worker starts or
	// resumes it, before its code continues; g is the worker.
	OnRun func(bt *Bthread, g *Group)
	// OnWake is called when a butex wake (or a timeout) queues a bthread
	// or switches to it, before it is queued.
	OnWake func(Wake)
	// BeforePark is called on a worker's main task just before it
	// futex-waits in its parking lot with the state it saved before its
	// last failed steal. It may call into the runtime with a Pthread (for
	// example to start a bthread in that window).
	BeforePark func(g *Group)
}

// Wake describes one woken bthread, for Hooks.OnWake.
type Wake struct {
	// Waker is the calling worker's group: nil for a pthread or the
	// timer thread (a timeout).
	Waker *Group
	// Bthread is the woken bthread; Into the group it is queued on (or,
	// for an exchange, switched to on).
	Bthread *Bthread
	Into    *Group
	// Requested is the caller's nosignal flag; Unsignalled is whether the
	// bthread stays queued without a signal once the wake call returns
	// (until a flush, if the caller makes one that covers it).
	Requested, Unsignalled bool
}

// DefaultOptions: two tags of two workers, the smallest setup where
// #2777 shows, and brpc's constants.
func DefaultOptions() Options {
	return Options{
		Workers:          []int{2, 2},             // two tags, two workers each
		ParkingLots:      DefaultParkingLots,      // PARKING_LOT_NUM = 4
		SignalCap:        DefaultSignalCap,        // signal_task caps at 2
		RunQueueCap:      DefaultRunQueueCap,      // 4096 local, 2048 remote
		FullQueueBackoff: DefaultFullQueueBackoff, // usleep(1000)
		Variant:          Fixed,                   // #2778
	}
}

// withDefaults validates o and fills its zero fields.
func (o Options) withDefaults() (Options, error) {
	if len(o.Workers) == 0 {
		return o, errors.New("butex: Options.Workers is empty: give the number of workers of each tag (at least one tag)")
	}
	for t, n := range o.Workers {
		if n < 1 || n > MaxWorkersPerTag {
			return o, fmt.Errorf("butex: Options.Workers[%d] = %d: every tag needs between 1 and %d workers", t, n, MaxWorkersPerTag)
		}
	}
	o.Workers = append([]int(nil), o.Workers...)
	if o.ParkingLots < 0 {
		return o, fmt.Errorf("butex: Options.ParkingLots = %d: must be >= 0 (0 means %d)", o.ParkingLots, DefaultParkingLots)
	}
	if o.ParkingLots == 0 {
		o.ParkingLots = DefaultParkingLots
	}
	if o.SignalCap < 0 {
		return o, fmt.Errorf("butex: Options.SignalCap = %d: must be >= 0 (0 means %d)", o.SignalCap, DefaultSignalCap)
	}
	if o.SignalCap == 0 {
		o.SignalCap = DefaultSignalCap
	}
	if o.RunQueueCap < 0 {
		return o, fmt.Errorf("butex: Options.RunQueueCap = %d: must be >= 0 (0 means %d)", o.RunQueueCap, DefaultRunQueueCap)
	}
	if o.RunQueueCap == 0 {
		o.RunQueueCap = DefaultRunQueueCap
	}
	if o.FullQueueBackoff < 0 {
		return o, fmt.Errorf("butex: Options.FullQueueBackoff = %v: must be >= 0 (0 means %v)", o.FullQueueBackoff, DefaultFullQueueBackoff)
	}
	if o.FullQueueBackoff == 0 {
		o.FullQueueBackoff = DefaultFullQueueBackoff
	}
	v, err := ParseVariant(string(o.Variant))
	if err != nil {
		return o, fmt.Errorf("butex: Options.Variant: %w", err)
	}
	o.Variant = v
	return o, nil
}

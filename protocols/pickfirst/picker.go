package pickfirst

import (
	"fmt"

	"github.com/detsim/detsim/protocols/grpc/wire"
)

// PickKind is the outcome of a pick (grpc-js PickResultType).
type PickKind int

const (
	// PickComplete: send the RPC on Subchannel.
	PickComplete PickKind = iota
	// PickQueue: wait for the next picker.
	PickQueue
	// PickTransientFailure: fail a fail-fast RPC with Err; a
	// wait-for-ready RPC waits for the next picker.
	PickTransientFailure
)

// PickResult is one pick.
type PickResult struct {
	Kind       PickKind
	Subchannel *Handle
	Err        error
}

// Picker picks a subchannel for an RPC. Pick is called from RPC tasks.
type Picker interface {
	Pick() PickResult
}

type exitIdler interface{ ExitIdle() }

// QueuePicker queues picks and, on the first pick only, asks its load
// balancer to exit idle on the next tick (grpc-js QueuePicker: at most once
// per picker instance). With a child picker it delegates the pick to it.
type QueuePicker struct {
	schedule func(func())
	lb       exitIdler
	child    Picker
	called   bool
}

// NewQueuePicker returns a QueuePicker for lb; schedule runs a function on
// the channel's serializer (process.nextTick).
func NewQueuePicker(schedule func(func()), lb exitIdler, child Picker) *QueuePicker {
	return &QueuePicker{schedule: schedule, lb: lb, child: child}
}

// Pick implements Picker.
func (p *QueuePicker) Pick() PickResult {
	if !p.called {
		p.called = true
		p.schedule(p.lb.ExitIdle)
	}
	if p.child != nil {
		return p.child.Pick()
	}
	return PickResult{Kind: PickQueue}
}

type pickFirstPicker struct{ sc *Handle }

func (p pickFirstPicker) Pick() PickResult { return PickResult{Kind: PickComplete, Subchannel: p.sc} }

// UnavailablePicker fails picks with Err (as code Unavailable).
type UnavailablePicker struct{ Err error }

// Pick implements Picker.
func (p UnavailablePicker) Pick() PickResult {
	return PickResult{Kind: PickTransientFailure, Err: wire.Errorf(wire.Unavailable, "%v", p.Err)}
}

func (p UnavailablePicker) String() string { return fmt.Sprintf("unavailable(%v)", p.Err) }

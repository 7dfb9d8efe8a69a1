package priority

import (
	"maps"
	"slices"

	"github.com/detsim/detsim/protocols/grpc/connectivity"
)

// ChildView is what the priority choice looks at for one child.
type ChildView struct {
	Name string
	// Started is false for a child not created yet (or deactivated).
	Started bool
	State   connectivity.State
	// TimerPending is true while the child's failover timer runs.
	TimerPending bool
}

// Choose is gRFC A56's priority choice, as a pure function of the
// children's states in priority order (highest first):
//
//  1. for each priority from the highest: a child that is READY or IDLE
//     is used (and all lower priorities are deactivated); a child whose
//     failover timer is pending is used (lower ones are kept); a child not
//     yet started is started, and so counts as CONNECTING with its timer
//     pending;
//  2. otherwise the first child in CONNECTING;
//  3. otherwise the last priority.
//
// It returns the index of the chosen child and whether lower priorities
// are deactivated; -1 for an empty list.
func Choose(children []ChildView) (int, bool) {
	if len(children) == 0 {
		return -1, false
	}
	for i, c := range children {
		if !c.Started {
			return i, false // started now: CONNECTING with a pending timer
		}
		if c.State == connectivity.Ready || c.State == connectivity.Idle {
			return i, true
		}
		if c.TimerPending {
			return i, false
		}
	}
	for i, c := range children {
		if c.State == connectivity.Connecting {
			return i, false
		}
	}
	return len(children) - 1, false
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

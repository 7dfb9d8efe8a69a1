package priority

import (
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
)

// handleChildStateUpdate applies a child's new state (under mu) and runs the
// priority choice. Failover timer rules (A56): a child's timer is cancelled
// when it reports READY, IDLE or TRANSIENT_FAILURE, and started again when
// it moves into CONNECTING if it reported READY or IDLE more recently than
// TRANSIENT_FAILURE.
func (b *Balancer) handleChildStateUpdate(name string, s balancer.State) {
	child, ok := b.children[name]
	if !ok || !child.started {
		// Updates from children removed or not started are ignored.
		return
	}
	old := child.state.ConnectivityState
	child.state = s
	switch s.ConnectivityState {
	case connectivity.Ready, connectivity.Idle:
		child.reportedTF = false
		child.stopInitTimer()
	case connectivity.TransientFailure:
		child.reportedTF = true
		child.stopInitTimer()
	case connectivity.Connecting:
		if !child.reportedTF && old != connectivity.Connecting {
			child.startInitTimer()
		}
	}
	b.syncPriority(name)
}

// view returns the children in priority order, for Choose.
func (b *Balancer) view() []ChildView {
	return b.appendView(make([]ChildView, 0, len(b.priorities)))
}

// appendView appends the children in priority order to out.
func (b *Balancer) appendView(out []ChildView) []ChildView {
	for _, name := range b.priorities {
		c := b.children[name]
		if c == nil {
			continue
		}
		out = append(out, ChildView{Name: name, Started: c.started, State: c.state.ConnectivityState, TimerPending: c.initTimer != nil})
	}
	return out
}

// syncPriority runs the A56 choice (under mu) and switches to the chosen
// child. As in grpc-go, the chosen child's picker is pushed to the parent
// FIRST and the lower priorities are deactivated after: that order is the
// window of grpc/grpc-go#7783.
func (b *Balancer) syncPriority(childUpdating string) {
	if b.inhibitPickerUpdates || b.isDone {
		return
	}
	if len(b.priorities) == 0 {
		b.childInUse = ""
		b.cc.UpdateState(balancer.State{ConnectivityState: connectivity.TransientFailure, Picker: balancer.ErrPicker{Err: ErrAllPrioritiesRemoved}})
		return
	}
	views := b.view()
	idx, deactivateLower := Choose(views)
	// Walking the priorities down to the chosen one starts (or
	// reactivates) every child on the way: lazy creation.
	for i := 0; i <= idx; i++ {
		if c := b.children[views[i].Name]; !c.started {
			c.start()
		}
	}
	chosen := b.children[views[idx].Name]
	if b.childInUse != chosen.name || chosen.name == childUpdating {
		b.cc.UpdateState(chosen.state)
	}
	b.childInUse = chosen.name
	if deactivateLower {
		for _, v := range views[idx+1:] {
			if c := b.children[v.Name]; c.started {
				c.stop()
			}
		}
	}
}

// Snapshot reports the child in use and the A56 choice for the current
// children, when the balancer is quiescent (mu free, no queued update, not
// inhibited, not closed); ok is false otherwise. Scenarios use it to check
// that the picker in use is always the one A56 chooses.
func (b *Balancer) Snapshot() (inUse, want string, ok bool) {
	if !b.quiescent() {
		return "", "", false
	}
	b.refreshSnapshot()
	return b.childInUse, b.snapWant, true
}

// ChoiceHolds is Snapshot's verdict, cheap enough to check after every
// scheduling step: false only when the balancer is quiescent and the child
// in use is not the A56 choice.
func (b *Balancer) ChoiceHolds() bool {
	if !b.quiescent() {
		return true
	}
	if b.snapGen != b.gen || b.snapWant == "" {
		b.refreshSnapshot()
	}
	return b.snapHolds
}

func (b *Balancer) quiescent() bool {
	return !b.locked && !b.isDone && !b.inhibitPickerUpdates && len(b.queue) == 0 && len(b.priorities) > 0
}

// refreshSnapshot recomputes the A56 choice only when mu was taken since
// the last time (childInUse, too, changes only under mu), into a reused
// buffer.
func (b *Balancer) refreshSnapshot() {
	if b.snapGen != b.gen || b.snapWant == "" {
		b.viewBuf = b.appendView(b.viewBuf[:0])
		idx, _ := Choose(b.viewBuf)
		b.snapGen, b.snapWant = b.gen, b.viewBuf[idx].Name
		b.snapHolds = b.childInUse == b.snapWant
	}
}

// ChildInUse is the name of the child whose picker the parent uses.
func (b *Balancer) ChildInUse() string { return b.childInUse }

package balancergroup

import (
	"fmt"

	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/resolver"
)

// newSubConn creates a SubConn on the parent ClientConn for the
// sub-balancer behind c and records it, so Close and stopBalancer can shut
// it down and its state updates reach the right child. It fails once the
// group or the sub-balancer is closed.
//
// The parent must deliver state updates asynchronously (the channel's
// serializer task does): the listener takes incomingMu, held here.
func (bg *BalancerGroup) newSubConn(c *childCC, addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	bg.incomingMu.Lock()
	defer bg.incomingMu.Unlock()
	if bg.incomingClosed {
		return nil, fmt.Errorf("balancergroup %s: NewSubConn from %q: %w", bg.opts.Name, c.sbw.id, ErrClosed)
	}
	if c.closed {
		return nil, fmt.Errorf("balancergroup %s: NewSubConn from %q after the sub-balancer was closed", bg.opts.Name, c.sbw.id)
	}
	var sc balancer.SubConn
	inner := opts.StateListener
	opts.StateListener = func(s balancer.SubConnState) { bg.updateSubConnState(sc, c, s, inner) }
	sc, err := bg.cc.NewSubConn(addrs, opts)
	if err != nil {
		return nil, err
	}
	bg.subConns = append(bg.subConns, subConnEntry{sc: sc, owner: c})
	return sc, nil
}

// updateSubConnState delivers a SubConn state update to the sub-balancer
// that created the SubConn (its listener cb), unless the SubConn is no
// longer tracked (shut down by Close or stopBalancer) or the sub-balancer
// or the group is closed.
func (bg *BalancerGroup) updateSubConnState(sc balancer.SubConn, c *childCC, s balancer.SubConnState, cb func(balancer.SubConnState)) {
	bg.incomingMu.Lock()
	if bg.incomingClosed && bg.opts.Variant == Fixed {
		bg.incomingMu.Unlock()
		return // #8095
	}
	i := bg.findSubConn(sc)
	if i < 0 {
		bg.incomingMu.Unlock()
		return
	}
	if s.ConnectivityState == connectivity.Shutdown {
		// Only SHUTDOWN ends the SubConn's tracking.
		bg.subConns = append(bg.subConns[:i:i], bg.subConns[i+1:]...)
	}
	bg.incomingMu.Unlock()

	bg.outgoingMu.Lock()
	defer bg.outgoingMu.Unlock()
	if bg.closedForOutgoing() || c.closed {
		// c.closed: the sub-balancer was stopped after the check above
		// (gracefulswitch drops updates for a stale balancer's SubConns).
		return
	}
	if cb != nil {
		cb(s)
	}
}

// findSubConn returns sc's index in bg.subConns, or -1. The caller holds
// incomingMu.
func (bg *BalancerGroup) findSubConn(sc balancer.SubConn) int {
	for i, e := range bg.subConns {
		if e.sc == sc {
			return i
		}
	}
	return -1
}

// updateBalancerState forwards a sub-balancer's state to the aggregator.
func (bg *BalancerGroup) updateBalancerState(id string, s balancer.State) {
	bg.log.Debug("child state", "id", id, "state", s.ConnectivityState)
	if bg.opts.StateAggregator != nil {
		bg.opts.StateAggregator.UpdateState(id, s)
	}
}

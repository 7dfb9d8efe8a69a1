package balancergroup

import (
	"fmt"

	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/sim"
)

// subBalancerWrapper is one child of the group: its static part (id,
// builder, last config), the running balancer when started, and the last
// state it reported, re-sent when the child is revived from the cache.
type subBalancerWrapper struct {
	group   *BalancerGroup
	id      string
	builder balancer.Builder

	// Guarded by group.outgoingMu.
	//
	// ccState is the last update from the parent, replayed to the balancer
	// when it is built. Invariant: balancer != nil iff cc != nil, and then
	// cc is the ClientConn balancer was built with and !cc.closed.
	ccState  *balancer.ClientConnState
	balancer balancer.Balancer
	cc       *childCC

	mu sim.Mutex
	// state is the last state the running balancer reported. Guarded by mu.
	state balancer.State
}

// startBalancer builds the balancer and replays the last config, if any.
// The caller holds outgoingMu.
func (sbw *subBalancerWrapper) startBalancer() {
	if sbw.balancer != nil {
		return
	}
	bg := sbw.group
	bg.log.Debug("building child", "id", sbw.id, "policy", sbw.builder.Name())
	cc := &childCC{sbw: sbw}
	sbw.cc = cc
	sbw.balancer = sbw.builder.Build(cc, balancer.BuildOptions{Env: bg.opts.Env, Name: bg.opts.Name + "/" + sbw.id})
	if sbw.balancer == nil {
		panic(fmt.Sprintf("balancergroup %s: builder %q returned a nil balancer for %q", bg.opts.Name, sbw.builder.Name(), sbw.id))
	}
	if sbw.ccState != nil {
		// The error is the resolver's business; a replay has no caller
		// to report it to.
		_ = sbw.balancer.UpdateClientConnState(*sbw.ccState)
	}
}

// stopBalancer closes the running balancer, if any, and shuts down the
// SubConns it created (grpc-go's gracefulswitch Close plus the group's
// cleanupSubConns). From the moment it starts, nothing the closed balancer
// does reaches the parent and no SubConn update reaches it. The caller holds
// outgoingMu; stopBalancer takes incomingMu and the wrapper's mu, in that
// order.
func (sbw *subBalancerWrapper) stopBalancer() {
	b, cc := sbw.balancer, sbw.cc
	if b == nil {
		return
	}
	sbw.balancer, sbw.cc = nil, nil
	bg := sbw.group

	bg.incomingMu.Lock()
	sbw.mu.Lock()
	cc.closed = true
	sbw.mu.Unlock()
	var shut []balancer.SubConn
	keep := make([]subConnEntry, 0, len(bg.subConns))
	for _, e := range bg.subConns {
		if e.owner == cc {
			shut = append(shut, e.sc)
		} else {
			keep = append(keep, e)
		}
	}
	bg.subConns = keep
	bg.incomingMu.Unlock()

	bg.log.Debug("closing child", "id", sbw.id, "subconns", len(shut))
	b.Close()
	for _, sc := range shut {
		sc.Shutdown()
	}
}

// resendCachedState re-sends the last reported state of a child revived
// from the cache, so the aggregator sees it again.
func (sbw *subBalancerWrapper) resendCachedState() {
	sbw.mu.Lock()
	defer sbw.mu.Unlock()
	if sbw.state.Picker != nil {
		sbw.group.updateBalancerState(sbw.id, sbw.state)
	}
}

// updateClientConnState remembers s and forwards it to the running
// balancer. The caller holds outgoingMu.
func (sbw *subBalancerWrapper) updateClientConnState(s balancer.ClientConnState) error {
	sbw.ccState = &s
	if sbw.balancer == nil {
		// Not running: only a closed (Buggy) group gets here.
		return nil
	}
	return sbw.balancer.UpdateClientConnState(s)
}

// resolverError forwards err to the running balancer. The caller holds
// outgoingMu.
func (sbw *subBalancerWrapper) resolverError(err error) {
	if sbw.balancer != nil {
		sbw.balancer.ResolverError(err)
	}
}

// exitIdle forwards ExitIdle to the running balancer. The caller holds
// outgoingMu.
func (sbw *subBalancerWrapper) exitIdle() {
	if sbw.balancer != nil {
		sbw.balancer.ExitIdle()
	}
}

// childCC is the balancer.ClientConn one built sub-balancer sees. Each
// build gets its own, so calls from a balancer the group has closed can be
// told apart and dropped, as grpc-go's gracefulswitch drops calls from a
// balancer that is neither current nor pending.
type childCC struct {
	sbw *subBalancerWrapper
	// closed is set when the balancer is stopped: its UpdateState and
	// ResolveNow are dropped, its NewSubConn fails, and updates of its
	// SubConns are not delivered. Written with outgoingMu, incomingMu and
	// sbw.mu all held (stopBalancer), so it may be read under any one.
	closed bool
}

var _ balancer.ClientConn = (*childCC)(nil)

// NewSubConn creates a SubConn on the parent and records that it belongs to
// this sub-balancer.
func (c *childCC) NewSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	return c.sbw.group.newSubConn(c, addrs, opts)
}

// UpdateState records the state (to re-send it on revival) and forwards it
// to the aggregator.
func (c *childCC) UpdateState(s balancer.State) {
	sbw := c.sbw
	sbw.mu.Lock()
	defer sbw.mu.Unlock()
	if c.closed {
		return
	}
	sbw.state = s
	sbw.group.updateBalancerState(sbw.id, s)
}

// ResolveNow forwards to the parent, unless this balancer was closed.
func (c *childCC) ResolveNow() {
	sbw := c.sbw
	sbw.mu.Lock()
	closed := c.closed
	sbw.mu.Unlock()
	if !closed {
		sbw.group.cc.ResolveNow()
	}
}

// Target is the parent's target.
func (c *childCC) Target() string { return c.sbw.group.cc.Target() }

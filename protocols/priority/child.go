package priority

import (
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/sim"
)

// childBalancer is one priority's child policy (grpc-go balancer_child.go).
// Invariant: started implies the child is in the balancergroup's map.
type childBalancer struct {
	name    string
	parent  *Balancer
	builder balancer.Builder
	config  balancer.LBConfig
	rState  resolver.State

	started bool
	// state is the child's last reported state; a child that has not
	// reported yet is CONNECTING and queues picks.
	state      balancer.State
	reportedTF bool
	initTimer  *initTimer
}

type initTimer struct {
	timer   sim.Timer
	stopped bool
}

func newChildBalancer(name string, parent *Balancer, b balancer.Builder) *childBalancer {
	c := &childBalancer{name: name, parent: parent, builder: b}
	c.resetState()
	return c
}

func (c *childBalancer) resetState() {
	c.state = balancer.State{
		ConnectivityState: connectivity.Connecting,
		Picker:            balancer.ErrPicker{Err: balancer.ErrNoSubConnAvailable},
	}
}

// updateConfig records a new config and, if started, sends it to the child.
func (c *childBalancer) updateConfig(child *Child, rs resolver.State) {
	c.config = child.Config
	c.rState = rs
	if c.started {
		c.sendUpdate()
	}
}

// start adds the child to the balancergroup (reviving it from the idle
// cache if it is there), starts its failover timer and sends its config.
func (c *childBalancer) start() {
	c.started = true
	if err := c.parent.bg.Add(c.name, c.builder); err != nil {
		c.parent.env.Logger().Warn("priority: adding child failed", "child", c.name, "err", err)
	}
	c.startInitTimer()
	c.sendUpdate()
}

func (c *childBalancer) sendUpdate() {
	err := c.parent.bg.UpdateClientConnState(c.name, balancer.ClientConnState{ResolverState: c.rState, BalancerConfig: c.config})
	if err != nil {
		c.parent.env.Logger().Warn("priority: child rejected its config", "child", c.name, "err", err)
	}
}

// stop deactivates the child: its timer stops and the balancergroup removes
// it (into the 15-minute idle cache).
func (c *childBalancer) stop() {
	if !c.started {
		return
	}
	c.stopInitTimer()
	c.parent.bg.Remove(c.name)
	c.started = false
	c.resetState()
	c.reportedTF = false
}

// startInitTimer starts the 10s failover timer unless one is pending. When
// it fires (under mu, unless stopped meanwhile) the priority is re-chosen.
func (c *childBalancer) startInitTimer() {
	if c.initTimer != nil {
		return
	}
	t := &initTimer{}
	c.initTimer = t
	b := c.parent
	t.timer = b.env.AfterFunc(DefaultPriorityInitTimeout, func() {
		b.lock()
		defer b.unlock()
		if t.stopped {
			return
		}
		c.initTimer = nil
		b.syncPriority("")
	})
}

func (c *childBalancer) stopInitTimer() {
	if c.initTimer == nil {
		return
	}
	c.initTimer.timer.Stop()
	c.initTimer.stopped = true
	c.initTimer = nil
}

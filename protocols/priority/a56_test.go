package priority_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/protocols/priority"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptedChild is a child policy whose state the test sets.
type scriptedChild struct{ children map[string]*scripted }

type scripted struct {
	name   string
	cc     balancer.ClientConn
	closed bool
}

func (s *scripted) UpdateClientConnState(balancer.ClientConnState) error { return nil }
func (s *scripted) ResolverError(error)                                  {}
func (s *scripted) ExitIdle()                                            {}
func (s *scripted) Close()                                               { s.closed = true }

func (b scriptedChild) Name() string { return "scripted_child" }
func (b scriptedChild) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	s := &scripted{name: opts.Name, cc: cc}
	b.children[opts.Name] = s
	return s
}

var scriptedChildren = map[string]*scripted{}

func init() { balancer.Register(scriptedChild{children: scriptedChildren}) }

// parent records what the priority policy publishes.
type parent struct{ states []balancer.State }

func (p *parent) NewSubConn([]resolver.Address, balancer.NewSubConnOptions) (balancer.SubConn, error) {
	return nil, fmt.Errorf("not used")
}
func (p *parent) UpdateState(s balancer.State) { p.states = append(p.states, s) }
func (p *parent) ResolveNow()                  {}
func (p *parent) Target() string               { return "a56" }

// a56 runs body against a priority policy over children p0, p1, p2.
func a56(t *testing.T, body func(w *sim.World, b *priority.Balancer, set func(child string, s connectivity.State), child func(string) *scripted)) {
	clear(scriptedChildren)
	w, err := sim.New(sim.Options{Seed: 1, CheckLeaks: true})
	require.NoError(t, err)
	n, err := netmodel.New(w, netmodel.Options{})
	require.NoError(t, err)
	require.NoError(t, n.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), netmodel.Link{}))
	h, err := n.AddHost("client", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.1")})
	require.NoError(t, err)
	res, err := w.Run(func() {
		cfg, err := priority.ParseConfig([]byte(`{"children": {"p0": {"config": [{"scripted_child": {}}]}, "p1": {"config": [{"scripted_child": {}}]}, "p2": {"config": [{"scripted_child": {}}]}}, "priorities": ["p0", "p1", "p2"]}`))
		require.NoError(t, err)
		b := balancer.Get(priority.Name).Build(&parent{}, balancer.BuildOptions{Env: h.Env(), Name: "prio"}).(*priority.Balancer)
		require.NoError(t, b.UpdateClientConnState(balancer.ClientConnState{BalancerConfig: cfg}))
		w.Sleep(time.Millisecond)
		child := func(name string) *scripted { return scriptedChildren["prio/"+name] }
		set := func(name string, s connectivity.State) {
			child(name).cc.UpdateState(balancer.State{ConnectivityState: s, Picker: balancer.ErrPicker{Err: fmt.Errorf("%s %v", name, s)}})
			w.Sleep(time.Millisecond)
		}
		body(w, b, set, child)
		b.Close()
		w.Sleep(time.Millisecond)
	})
	require.NoError(t, err)
	require.Nil(t, res.Failure, "%v", res.Failure)
}

func TestA56LazyCreationAndFailoverTimer(t *testing.T) {
	a56(t, func(w *sim.World, b *priority.Balancer, set func(string, connectivity.State), child func(string) *scripted) {
		// Only P0 exists at first: its failover timer holds.
		assert.NotNil(t, child("p0"))
		assert.Nil(t, child("p1"), "lower priorities are created lazily")
		assert.Equal(t, "p0", b.ChildInUse())
		// The 10s failover timer fires: P1 is created and used; P0 kept.
		w.Sleep(priority.DefaultPriorityInitTimeout)
		require.NotNil(t, child("p1"))
		assert.Equal(t, "p1", b.ChildInUse())
		assert.Nil(t, child("p2"))
		// P0 becomes READY: it wins and P1 is deactivated into the cache.
		set("p0", connectivity.Ready)
		assert.Equal(t, "p0", b.ChildInUse())
		assert.Equal(t, []string{"p1"}, b.Group().Cached())
		assert.False(t, child("p1").closed, "deactivated, not destroyed")
	})
}

func TestA56TransientFailureAndReactivation(t *testing.T) {
	a56(t, func(w *sim.World, b *priority.Balancer, set func(string, connectivity.State), child func(string) *scripted) {
		set("p0", connectivity.TransientFailure)
		require.NotNil(t, child("p1"))
		assert.Equal(t, "p1", b.ChildInUse(), "TF skips P0 at once, no timer wait")
		set("p1", connectivity.Ready)
		assert.Equal(t, "p1", b.ChildInUse())
		p1 := child("p1")
		// P0 recovers, P1 goes to the cache; P0 fails again within 15
		// minutes: P1 is reactivated from the cache, not rebuilt.
		set("p0", connectivity.Ready)
		assert.Equal(t, []string{"p1"}, b.Group().Cached())
		set("p0", connectivity.TransientFailure)
		assert.Equal(t, "p1", b.ChildInUse())
		assert.Same(t, p1, child("p1"), "reactivated, not rebuilt")
		assert.Empty(t, b.Group().Cached())
	})
}

func TestA56ConnectingRestartsTimerOnlyAfterReady(t *testing.T) {
	a56(t, func(w *sim.World, b *priority.Balancer, set func(string, connectivity.State), child func(string) *scripted) {
		set("p0", connectivity.Ready)
		// READY -> CONNECTING: the failover timer starts again and holds P0.
		set("p0", connectivity.Connecting)
		assert.Equal(t, "p0", b.ChildInUse())
		w.Sleep(priority.DefaultPriorityInitTimeout - 10*time.Millisecond)
		assert.Equal(t, "p0", b.ChildInUse(), "held by the failover timer")
		w.Sleep(20 * time.Millisecond)
		assert.Equal(t, "p1", b.ChildInUse(), "timer expired: fail over")
		// TF -> CONNECTING does not restart the timer (A56).
		set("p1", connectivity.TransientFailure)
		require.NotNil(t, child("p2"))
		set("p2", connectivity.TransientFailure)
		set("p0", connectivity.TransientFailure)
		set("p0", connectivity.Connecting)
		// Nothing READY, no timer pending: the first CONNECTING child.
		assert.Equal(t, "p0", b.ChildInUse())
		inUse, want, ok := b.Snapshot()
		assert.True(t, ok)
		assert.Equal(t, want, inUse)
	})
}

func TestA56CloseLeavesNothing(t *testing.T) {
	// a56 runs with CheckLeaks: after Close no task or timer of the policy
	// (run task, failover timers, cache timers) may remain.
	a56(t, func(w *sim.World, b *priority.Balancer, set func(string, connectivity.State), child func(string) *scripted) {
		w.Sleep(priority.DefaultPriorityInitTimeout)
		set("p0", connectivity.Ready) // P1 into the 15-minute cache
		require.Equal(t, []string{"p1"}, b.Group().Cached())
	})
	for _, c := range scriptedChildren { //detsim:allow order-independent assertions
		assert.True(t, c.closed, "%s closed", c.name)
	}
}

func TestA56NoTimerAfterTransientFailure(t *testing.T) {
	a56(t, func(w *sim.World, b *priority.Balancer, set func(string, connectivity.State), child func(string) *scripted) {
		set("p0", connectivity.TransientFailure)
		set("p1", connectivity.Ready)
		require.Equal(t, "p1", b.ChildInUse())
		// P0 retries after a failure: CONNECTING after TRANSIENT_FAILURE
		// starts no failover timer, so it must not take over from P1.
		set("p0", connectivity.Connecting)
		assert.Equal(t, "p1", b.ChildInUse())
	})
}

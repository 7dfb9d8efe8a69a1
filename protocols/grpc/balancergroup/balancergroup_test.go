package balancergroup_test

import (
	"errors"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/balancergroup"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// group is a BalancerGroup with its fakes.
type group struct {
	bg     *balancergroup.BalancerGroup
	parent *fakeParent
	agg    *aggregator
}

func newGroup(env netmodel.Env, v balancergroup.Variant, timeout time.Duration) *group {
	g := &group{parent: &fakeParent{}, agg: &aggregator{}}
	g.bg = balancergroup.New(g.parent, balancergroup.Options{
		Env: env, Name: "priority", SubBalancerCloseTimeout: timeout, StateAggregator: g.agg, Variant: v,
	})
	return g
}

func TestVariantString(t *testing.T) {
	assert.Equal(t, "fixed", balancergroup.Fixed.String())
	assert.Equal(t, "buggy", balancergroup.Buggy.String())
	assert.Equal(t, "Variant(7)", balancergroup.Variant(7).String())
}

func TestNewRejectsBadOptions(t *testing.T) {
	mustPass(t, sim.Options{}, func(env netmodel.Env) {
		assert.PanicsWithValue(t, "balancergroup: New: Options.Env is nil", func() {
			balancergroup.New(&fakeParent{}, balancergroup.Options{})
		})
		assert.Panics(t, func() {
			balancergroup.New(&fakeParent{}, balancergroup.Options{Env: env, SubBalancerCloseTimeout: -1})
		})
		assert.Panics(t, func() {
			balancergroup.New(&fakeParent{}, balancergroup.Options{Env: env, Variant: 9})
		})
	})
}

func TestAddForwardsBothWays(t *testing.T) {
	for _, v := range variants {
		t.Run(v.String(), func(t *testing.T) {
			b := &fakeBuilder{name: "fake"}
			mustPass(t, sim.Options{}, func(env netmodel.Env) {
				g := newGroup(env, v, closeTimeout)
				require.NoError(t, g.bg.Add("p0", b))
				require.Len(t, b.built, 1, "Add builds the child at once")
				fb := b.built[0]
				assert.Equal(t, "priority/p0", fb.name)
				assert.Equal(t, stateUpdate{"p0", connectivity.Connecting, "priority/p0#connecting"}, g.agg.last("p0"))
				assert.Equal(t, []string{"p0"}, g.bg.Active())
				assert.Empty(t, g.bg.Cached())

				err := g.bg.Add("p0", b)
				assert.ErrorContains(t, err, "already active")
				assert.Len(t, b.built, 1)

				// Parent --> child.
				require.NoError(t, g.bg.UpdateClientConnState("p0", addrs("10.0.0.2:80", "10.0.0.3:80")))
				require.Len(t, fb.updates, 1)
				assert.Len(t, g.parent.subConns, 2, "the child's SubConns are created on the parent")
				assert.Equal(t, stateUpdate{"p0", connectivity.Ready, "priority/p0#ready"}, g.agg.last("p0"))
				assert.NoError(t, g.bg.UpdateClientConnState("unknown", addrs("10.0.0.9:80")))

				rerr := errors.New("resolver down")
				g.bg.ResolverError(rerr)
				assert.Equal(t, []error{rerr}, fb.resolverErrs)
				g.bg.ExitIdle()
				g.bg.ExitIdleOne("p0")
				g.bg.ExitIdleOne("unknown")
				assert.Equal(t, 2, fb.exitIdles)

				// Child --> parent.
				fb.cc.ResolveNow()
				assert.Equal(t, 1, g.parent.resolveNow)
				assert.Equal(t, "fake-target", fb.cc.Target())
				g.parent.subConns[0].report(connectivity.Ready)
				g.parent.subConns[1].report(connectivity.TransientFailure)
				assert.Equal(t, []connectivity.State{connectivity.Ready, connectivity.TransientFailure}, fb.scStates)

				// A SubConn that reported SHUTDOWN is no longer tracked:
				// later updates are dropped and Close leaves it alone.
				g.parent.subConns[1].report(connectivity.Shutdown)
				g.parent.subConns[1].report(connectivity.Ready)
				assert.Equal(t, []connectivity.State{connectivity.Ready, connectivity.TransientFailure, connectivity.Shutdown}, fb.scStates)

				g.bg.Close()
				assert.True(t, fb.closed)
				assert.Equal(t, []int{1, 0}, g.parent.shutdowns())
			})
		})
	}
}

func TestRemovedChildClosesAfterTimeout(t *testing.T) {
	for _, v := range variants {
		t.Run(v.String(), func(t *testing.T) {
			b := &fakeBuilder{name: "fake"}
			mustPass(t, sim.Options{}, func(env netmodel.Env) {
				g := newGroup(env, v, closeTimeout)
				require.NoError(t, g.bg.Add("p0", b))
				require.NoError(t, g.bg.Add("p1", b))
				require.NoError(t, g.bg.UpdateClientConnState("p1", addrs("10.0.0.2:80")))
				p1 := b.built[1]

				g.bg.Remove("p1")
				g.bg.Remove("unknown")
				assert.Equal(t, []string{"p0"}, g.bg.Active())
				assert.Equal(t, []string{"p1"}, g.bg.Cached())
				assert.False(t, p1.closed, "a removed child idles in the cache")
				// A removed child gets no more updates.
				g.bg.ExitIdle()
				assert.Zero(t, p1.exitIdles)

				env.Sleep(closeTimeout - 1)
				assert.False(t, p1.closed, "closed before the timeout")
				assert.Equal(t, []int{0}, g.parent.shutdowns())
				env.Sleep(2) // the expiry task runs before the clock moves on
				assert.True(t, p1.closed, "not closed after the timeout")
				assert.Empty(t, g.bg.Cached())
				assert.Equal(t, []int{1}, g.parent.shutdowns(), "its SubConns are shut down with it")

				g.bg.Close()
				assert.Equal(t, 0, b.open())
				assert.Equal(t, []int{1}, g.parent.shutdowns(), "no second shutdown")
			})
		})
	}
}

func TestAddRevivesCachedChild(t *testing.T) {
	b := &fakeBuilder{name: "fake"}
	mustPass(t, sim.Options{}, func(env netmodel.Env) {
		g := newGroup(env, balancergroup.Fixed, closeTimeout)
		require.NoError(t, g.bg.Add("p1", b))
		require.NoError(t, g.bg.UpdateClientConnState("p1", addrs("10.0.0.2:80")))
		g.bg.Remove("p1")
		env.Sleep(10 * time.Minute)

		n := len(g.agg.updates)
		require.NoError(t, g.bg.Add("p1", b))
		require.Len(t, b.built, 1, "revived, not rebuilt")
		p1 := b.built[0]
		assert.False(t, p1.closed)
		assert.Equal(t, []string{"p1"}, g.bg.Active())
		assert.Empty(t, g.bg.Cached())
		require.Len(t, g.agg.updates, n+1, "the revived child's state is re-sent")
		assert.Equal(t, stateUpdate{"p1", connectivity.Ready, "priority/p1#ready"}, g.agg.updates[n])

		env.Sleep(time.Hour)
		assert.False(t, p1.closed, "the revived child's cache timer was cancelled")
		require.NoError(t, g.bg.UpdateClientConnState("p1", addrs("10.0.0.3:80")))
		assert.Len(t, p1.updates, 2)

		g.bg.Close()
		assert.True(t, p1.closed)
		assert.Equal(t, []int{1, 1}, g.parent.shutdowns())
	})
}

func TestAddWithOtherPolicyDiscardsCachedChild(t *testing.T) {
	a, b := &fakeBuilder{name: "fake-a"}, &fakeBuilder{name: "fake-b"}
	mustPass(t, sim.Options{}, func(env netmodel.Env) {
		g := newGroup(env, balancergroup.Fixed, closeTimeout)
		require.NoError(t, g.bg.Add("p0", a))
		require.NoError(t, g.bg.UpdateClientConnState("p0", addrs("10.0.0.2:80")))
		g.bg.Remove("p0")
		require.NoError(t, g.bg.Add("p0", b))
		assert.True(t, a.built[0].closed, "the cached child of the other policy is closed")
		assert.Equal(t, []int{1}, g.parent.shutdowns())
		require.Len(t, b.built, 1)
		assert.Empty(t, b.built[0].updates, "a new child does not inherit the old config")
		assert.Empty(t, g.bg.Cached())
		g.bg.Close()
		assert.Equal(t, 0, a.open()+b.open())
	})
}

func TestCacheDisabledClosesAtOnce(t *testing.T) {
	for _, v := range variants {
		t.Run(v.String(), func(t *testing.T) {
			b := &fakeBuilder{name: "fake"}
			mustPass(t, sim.Options{}, func(env netmodel.Env) {
				g := newGroup(env, v, 0)
				require.NoError(t, g.bg.Add("p0", b))
				require.NoError(t, g.bg.UpdateClientConnState("p0", addrs("10.0.0.2:80")))
				g.bg.Remove("p0")
				assert.True(t, b.built[0].closed)
				assert.Equal(t, []int{1}, g.parent.shutdowns())
				assert.Nil(t, g.bg.Cached())
				assert.Empty(t, g.bg.Active())

				require.NoError(t, g.bg.Add("p0", b))
				assert.Len(t, b.built, 2, "nothing to revive: a new child")
				g.bg.Close()
				assert.Equal(t, 0, b.open())
			})
		})
	}
}

// TestCloseClosesEverything is the sequential case: with no concurrent
// Remove both variants close every child, cached or active, and shut down
// every SubConn exactly once, leaving no task or timer behind.
func TestCloseClosesEverything(t *testing.T) {
	for _, v := range variants {
		t.Run(v.String(), func(t *testing.T) {
			for seed := uint64(0); seed < 50; seed++ {
				b := &fakeBuilder{name: "fake"}
				mustPass(t, sim.Options{Seed: seed}, func(env netmodel.Env) {
					g := newGroup(env, v, closeTimeout)
					backends := []string{"10.0.1.1:80", "10.0.1.2:80", "10.0.1.3:80"}
					for i, id := range []string{"p0", "p1", "p2"} {
						require.NoError(t, g.bg.Add(id, b))
						require.NoError(t, g.bg.UpdateClientConnState(id, addrs(backends[:i+1]...)))
					}
					g.bg.Remove("p2")
					g.bg.Close()
					assert.Equal(t, 0, b.open(), "seed %d", seed)
					assert.Empty(t, g.bg.Cached())
					assert.Equal(t, []int{1, 1, 1, 1, 1, 1}, g.parent.shutdowns(), "seed %d", seed)

					// Idempotent: the fakes fail the run on a second Close.
					g.bg.Close()
					assert.Equal(t, []int{1, 1, 1, 1, 1, 1}, g.parent.shutdowns())
				})
			}
		})
	}
}

// TestAfterClose checks that a closed group makes no call into a child (the
// fake balancers fail the run if called after Close) and forwards nothing
// from a closed child to the parent.
func TestAfterClose(t *testing.T) {
	for _, v := range variants {
		t.Run(v.String(), func(t *testing.T) {
			b := &fakeBuilder{name: "fake"}
			mustPass(t, sim.Options{}, func(env netmodel.Env) {
				g := newGroup(env, v, closeTimeout)
				require.NoError(t, g.bg.Add("p0", b))
				require.NoError(t, g.bg.UpdateClientConnState("p0", addrs("10.0.0.2:80")))
				p0 := b.built[0]
				g.bg.Close()
				require.True(t, p0.closed)

				err := g.bg.Add("p1", b)
				if v == balancergroup.Fixed {
					assert.ErrorIs(t, err, balancergroup.ErrClosed, "#8095: closing is terminal")
					assert.Empty(t, g.bg.Active(), "#8095: Close deletes every child")
				} else {
					assert.NoError(t, err, "pre-#8095 Add on a closed group records the child unbuilt")
					assert.Equal(t, []string{"p0", "p1"}, g.bg.Active(), "pre-#8095 Close keeps the stopped wrappers")
				}
				assert.Len(t, b.built, 1, "nothing is built after Close")

				// Parent --> closed children: dropped.
				assert.NoError(t, g.bg.UpdateClientConnState("p0", addrs("10.0.0.3:80")))
				g.bg.ResolverError(errors.New("late"))
				g.bg.ExitIdle()
				g.bg.ExitIdleOne("p0")
				g.parent.subConns[0].report(connectivity.Ready)
				g.bg.Remove("p0")
				g.bg.Remove("p1")
				assert.Empty(t, g.bg.Cached(), "nothing is cached after Close")

				// Closed child --> parent: dropped or refused.
				n := len(g.agg.updates)
				p0.cc.UpdateState(balancer.State{ConnectivityState: connectivity.Ready, Picker: fakePicker{"late"}})
				assert.Len(t, g.agg.updates, n)
				p0.cc.ResolveNow()
				assert.Zero(t, g.parent.resolveNow)
				_, err = p0.cc.NewSubConn(addrs("10.0.0.4:80").ResolverState.Addresses, balancer.NewSubConnOptions{})
				assert.ErrorIs(t, err, balancergroup.ErrClosed)
				assert.Len(t, g.parent.subConns, 1)

				g.bg.Close()
				assert.Equal(t, []int{1}, g.parent.shutdowns())
			})
		})
	}
}

// TestStoppedChildIsCutOff checks that a child closed while the group is
// open can no longer reach the parent, as grpc-go's gracefulswitch ensures.
func TestStoppedChildIsCutOff(t *testing.T) {
	b := &fakeBuilder{name: "fake"}
	mustPass(t, sim.Options{}, func(env netmodel.Env) {
		g := newGroup(env, balancergroup.Fixed, 0)
		require.NoError(t, g.bg.Add("p0", b))
		require.NoError(t, g.bg.UpdateClientConnState("p0", addrs("10.0.0.2:80")))
		p0 := b.built[0]
		g.bg.Remove("p0")
		require.True(t, p0.closed)

		n := len(g.agg.updates)
		p0.cc.UpdateState(balancer.State{ConnectivityState: connectivity.Idle, Picker: fakePicker{"late"}})
		assert.Len(t, g.agg.updates, n)
		p0.cc.ResolveNow()
		assert.Zero(t, g.parent.resolveNow)
		_, err := p0.cc.NewSubConn(addrs("10.0.0.4:80").ResolverState.Addresses, balancer.NewSubConnOptions{})
		assert.ErrorContains(t, err, "after the sub-balancer was closed")
		g.parent.subConns[0].report(connectivity.Ready) // untracked: not delivered
		assert.Empty(t, p0.scStates)
		g.bg.Close()
	})
}

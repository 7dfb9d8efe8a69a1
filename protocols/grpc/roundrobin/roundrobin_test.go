package roundrobin_test

import (
	"errors"
	"testing"

	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/clientconn/testnet"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/protocols/grpc/roundrobin"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeCC records what the balancer does; the test drives SubConn states.
type fakeCC struct {
	scs    []*fakeSC
	states []balancer.State
}

type fakeSC struct {
	addr      resolver.Address
	listener  func(balancer.SubConnState)
	connects  int
	shutdowns int
}

func (s *fakeSC) Connect()                  { s.connects++ }
func (s *fakeSC) Shutdown()                 { s.shutdowns++ }
func (s *fakeSC) Address() resolver.Address { return s.addr }

func (c *fakeCC) NewSubConn(addrs []resolver.Address, o balancer.NewSubConnOptions) (balancer.SubConn, error) {
	sc := &fakeSC{addr: addrs[0], listener: o.StateListener}
	c.scs = append(c.scs, sc)
	return sc, nil
}
func (c *fakeCC) UpdateState(s balancer.State) { c.states = append(c.states, s) }
func (c *fakeCC) ResolveNow()                  {}
func (c *fakeCC) Target() string               { return "fake" }

func (c *fakeCC) last() balancer.State { return c.states[len(c.states)-1] }

func set(sc *fakeSC, s connectivity.State, err ...error) {
	st := balancer.SubConnState{ConnectivityState: s}
	if len(err) > 0 {
		st.ConnectionError = err[0]
	}
	sc.listener(st)
}

func addrs(names ...string) resolver.State {
	var s resolver.State
	for _, n := range names {
		s.Addresses = append(s.Addresses, resolver.Address{Addr: n})
	}
	return s
}

func pickAll(t *testing.T, p balancer.Picker, n int) []string {
	var out []string
	for range n {
		r, err := p.Pick(balancer.PickInfo{})
		require.NoError(t, err)
		out = append(out, r.SubConn.Address().Addr)
	}
	return out
}

func inWorld(t *testing.T, body func(b balancer.Balancer, cc *fakeCC)) {
	tn, err := testnet.New(testnet.Config{Sim: sim.Options{Seed: 3}})
	require.NoError(t, err)
	res, err := tn.W.Run(func() {
		cc := &fakeCC{}
		b := balancer.Get(roundrobin.Name).Build(cc, balancer.BuildOptions{Env: tn.Client.Env(), Name: "rr"})
		body(b, cc)
	})
	require.NoError(t, err)
	require.Nil(t, res.Failure, "%v", res.Failure)
}

func TestAggregatedStateAndPicker(t *testing.T) {
	inWorld(t, func(b balancer.Balancer, cc *fakeCC) {
		require.NoError(t, b.UpdateClientConnState(balancer.ClientConnState{ResolverState: addrs("a", "b", "c")}))
		require.Len(t, cc.scs, 3)
		for _, sc := range cc.scs {
			assert.Equal(t, 1, sc.connects, "every SubConn is connected")
		}
		assert.Equal(t, connectivity.Connecting, cc.last().ConnectivityState)
		_, err := cc.last().Picker.Pick(balancer.PickInfo{})
		assert.ErrorIs(t, err, balancer.ErrNoSubConnAvailable)

		a, bb, c := cc.scs[0], cc.scs[1], cc.scs[2]
		set(a, connectivity.Connecting)
		set(a, connectivity.Ready)
		assert.Equal(t, connectivity.Ready, cc.last().ConnectivityState)
		assert.Equal(t, []string{"a", "a"}, pickAll(t, cc.last().Picker, 2))
		set(c, connectivity.Connecting)
		set(c, connectivity.Ready)
		got := pickAll(t, cc.last().Picker, 4)
		assert.ElementsMatch(t, []string{"a", "c", "a", "c"}, got)
		assert.NotEqual(t, got[0], got[1], "rotates")

		// A READY SubConn that loses its connection goes IDLE: reconnect.
		set(a, connectivity.Idle)
		assert.Equal(t, 2, a.connects)
		assert.Equal(t, []string{"c", "c"}, pickAll(t, cc.last().Picker, 2))

		// All failing: TRANSIENT_FAILURE once every SubConn has failed, and
		// it stays so while they retry (sticky TF).
		boom := errors.New("connection refused")
		set(c, connectivity.Idle)
		set(a, connectivity.TransientFailure, boom)
		set(bb, connectivity.TransientFailure, boom)
		assert.Equal(t, connectivity.Connecting, cc.last().ConnectivityState, "c is still connecting")
		set(c, connectivity.Connecting)
		set(c, connectivity.TransientFailure, boom)
		assert.Equal(t, connectivity.TransientFailure, cc.last().ConnectivityState)
		_, err = cc.last().Picker.Pick(balancer.PickInfo{})
		assert.ErrorContains(t, err, "connection refused")
		set(a, connectivity.Idle)
		assert.Equal(t, 3, a.connects, "IDLE after backoff: reconnect")
		set(a, connectivity.Connecting)
		assert.Equal(t, connectivity.TransientFailure, cc.last().ConnectivityState, "sticky TF")
		set(a, connectivity.Ready)
		assert.Equal(t, connectivity.Ready, cc.last().ConnectivityState)
		assert.Equal(t, []string{"a"}, pickAll(t, cc.last().Picker, 1))
		b.Close()
	})
}

func TestAddressUpdatesAndClose(t *testing.T) {
	inWorld(t, func(b balancer.Balancer, cc *fakeCC) {
		require.NoError(t, b.UpdateClientConnState(balancer.ClientConnState{ResolverState: addrs("a", "b")}))
		for _, sc := range cc.scs {
			set(sc, connectivity.Ready)
		}
		require.NoError(t, b.UpdateClientConnState(balancer.ClientConnState{ResolverState: addrs("b", "c", "c")}))
		require.Len(t, cc.scs, 3, "one new SubConn for c (duplicates ignored)")
		assert.Equal(t, 1, cc.scs[0].shutdowns, "a was removed")
		assert.Equal(t, 0, cc.scs[1].shutdowns)
		set(cc.scs[0], connectivity.Shutdown)
		assert.Equal(t, []string{"b", "b"}, pickAll(t, cc.last().Picker, 2))

		n := len(cc.states)
		set(cc.scs[0], connectivity.Ready) // a late update from a removed SubConn
		assert.Len(t, cc.states, n, "ignored")

		err := b.UpdateClientConnState(balancer.ClientConnState{ResolverState: addrs()})
		assert.ErrorIs(t, err, balancer.ErrBadResolverState)
		assert.Equal(t, connectivity.TransientFailure, cc.last().ConnectivityState)
		assert.Equal(t, 1, cc.scs[1].shutdowns)
		assert.Equal(t, 1, cc.scs[2].shutdowns)

		require.NoError(t, b.UpdateClientConnState(balancer.ClientConnState{ResolverState: addrs("d")}))
		b.ResolverError(errors.New("dns down"))
		b.ExitIdle()
		b.Close()
		assert.Equal(t, 1, cc.scs[3].shutdowns, "Close shuts down every SubConn")
		b.Close()
		assert.Equal(t, 1, cc.scs[3].shutdowns)
	})
}

func TestResolverErrorWithoutAddresses(t *testing.T) {
	inWorld(t, func(b balancer.Balancer, cc *fakeCC) {
		b.ResolverError(errors.New("dns down"))
		require.NotEmpty(t, cc.states)
		assert.Equal(t, connectivity.TransientFailure, cc.last().ConnectivityState)
		_, err := cc.last().Picker.Pick(balancer.PickInfo{})
		assert.ErrorContains(t, err, "dns down")
	})
}

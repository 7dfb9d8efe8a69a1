package balancergroup_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/balancergroup"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/require"
)

// closeTimeout is the priority policy's sub-balancer close timeout.
const closeTimeout = 15 * time.Minute

var variants = []balancergroup.Variant{balancergroup.Fixed, balancergroup.Buggy}

// newWorld returns a World with one host, "client", and that host's Env.
func newWorld(t testing.TB, opts sim.Options) (*sim.World, netmodel.Env) {
	t.Helper()
	w, err := sim.New(opts)
	require.NoError(t, err)
	n, err := netmodel.New(w, netmodel.Options{})
	require.NoError(t, err)
	require.NoError(t, n.AddSegment("lan", netip.MustParsePrefix("10.0.0.0/24"), netmodel.Link{Latency: netmodel.Constant(time.Millisecond)}))
	h, err := n.AddHost("client", nil, netmodel.Iface{Segment: "lan", Addr: netip.MustParseAddr("10.0.0.1")})
	require.NoError(t, err)
	return w, h.Env()
}

// run runs main on a one-host World with leak checking on.
func run(t testing.TB, opts sim.Options, main func(env netmodel.Env)) sim.Result {
	t.Helper()
	opts.CheckLeaks = true
	w, env := newWorld(t, opts)
	res, err := w.Run(func() { main(env) })
	require.NoError(t, err)
	return res
}

// mustPass is run that fails the test if the run failed.
func mustPass(t testing.TB, opts sim.Options, main func(env netmodel.Env)) sim.Result {
	t.Helper()
	res := run(t, opts, main)
	if res.Failure != nil {
		t.Fatalf("run failed: %v\n%s", res.Failure, res.Failure.Stack)
	}
	return res
}

// fakeParent is the parent ClientConn: it hands out fakeSubConns.
type fakeParent struct {
	subConns   []*fakeSubConn
	resolveNow int
}

func (p *fakeParent) NewSubConn(addrs []resolver.Address, opts balancer.NewSubConnOptions) (balancer.SubConn, error) {
	sc := &fakeSubConn{addr: addrs[0], listener: opts.StateListener}
	p.subConns = append(p.subConns, sc)
	return sc, nil
}

// UpdateState is never called: sub-balancer states go to the aggregator.
func (p *fakeParent) UpdateState(balancer.State) { panic("group called the parent's UpdateState") }
func (p *fakeParent) ResolveNow()                { p.resolveNow++ }
func (p *fakeParent) Target() string             { return "fake-target" }

// shutdowns returns how many times each SubConn was shut down, in creation
// order.
func (p *fakeParent) shutdowns() []int {
	var out []int
	for _, sc := range p.subConns {
		out = append(out, sc.shutdowns)
	}
	return out
}

type fakeSubConn struct {
	addr      resolver.Address
	listener  func(balancer.SubConnState)
	shutdowns int
}

func (sc *fakeSubConn) Connect()                  {}
func (sc *fakeSubConn) Shutdown()                 { sc.shutdowns++ }
func (sc *fakeSubConn) Address() resolver.Address { return sc.addr }

// report delivers a state update, as the channel's serializer would.
func (sc *fakeSubConn) report(s connectivity.State) {
	sc.listener(balancer.SubConnState{ConnectivityState: s})
}

// aggregator records every state update.
type aggregator struct{ updates []stateUpdate }

type stateUpdate struct {
	id    string
	state connectivity.State
	pick  string // the fakePicker's name
}

func (a *aggregator) UpdateState(id string, s balancer.State) {
	u := stateUpdate{id: id, state: s.ConnectivityState}
	if p, ok := s.Picker.(fakePicker); ok {
		u.pick = p.name
	}
	a.updates = append(a.updates, u)
}

// last returns the last update for id.
func (a *aggregator) last(id string) stateUpdate {
	for i := len(a.updates) - 1; i >= 0; i-- {
		if a.updates[i].id == id {
			return a.updates[i]
		}
	}
	return stateUpdate{}
}

type fakePicker struct{ name string }

func (fakePicker) Pick(balancer.PickInfo) (balancer.PickResult, error) {
	return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
}

// fakeBuilder builds fakeBalancers and keeps them all.
type fakeBuilder struct {
	name  string
	built []*fakeBalancer
}

func (b *fakeBuilder) Name() string { return b.name }

// Build starts a task, "fake.run", that lives until Close: a child the
// group fails to close shows up as a leaked task under CheckLeaks.
func (b *fakeBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	fb := &fakeBalancer{cc: cc, env: opts.Env, name: opts.Name, done: sim.NewChan[struct{}](opts.Env, 0)}
	b.built = append(b.built, fb)
	opts.Env.Go("fake.run", func() { fb.done.Recv() })
	cc.UpdateState(balancer.State{ConnectivityState: connectivity.Connecting, Picker: fakePicker{fb.name + "#connecting"}})
	return fb
}

// open counts balancers built and not closed.
func (b *fakeBuilder) open() int {
	n := 0
	for _, fb := range b.built {
		if !fb.closed {
			n++
		}
	}
	return n
}

// fakeBalancer creates one SubConn per address and reports READY. Any call
// after Close is a violation of the run.
type fakeBalancer struct {
	cc   balancer.ClientConn
	env  netmodel.Env
	name string
	done sim.Chan[struct{}]

	closed       bool
	updates      []balancer.ClientConnState
	resolverErrs []error
	exitIdles    int
	scStates     []connectivity.State
	subConns     []balancer.SubConn
}

func (f *fakeBalancer) check(call string) {
	if f.closed {
		if w := f.env.Sim(); w != nil {
			w.Violate("no-call-after-close", "%s called on sub-balancer %s after Close", call, f.name)
		}
	}
}

func (f *fakeBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	f.check("UpdateClientConnState")
	f.updates = append(f.updates, s)
	for _, a := range s.ResolverState.Addresses {
		sc, err := f.cc.NewSubConn([]resolver.Address{a}, balancer.NewSubConnOptions{
			StateListener: func(s balancer.SubConnState) {
				f.check("SubConn StateListener")
				f.scStates = append(f.scStates, s.ConnectivityState)
			},
		})
		if err != nil {
			return err
		}
		f.subConns = append(f.subConns, sc)
		sc.Connect()
	}
	f.cc.UpdateState(balancer.State{ConnectivityState: connectivity.Ready, Picker: fakePicker{f.name + "#ready"}})
	return nil
}

func (f *fakeBalancer) ResolverError(err error) {
	f.check("ResolverError")
	f.resolverErrs = append(f.resolverErrs, err)
}

func (f *fakeBalancer) ExitIdle() {
	f.check("ExitIdle")
	f.exitIdles++
}

func (f *fakeBalancer) Close() {
	f.check("Close")
	f.closed = true
	f.done.Close()
}

// addrs returns a resolver update with the given backend addresses.
func addrs(as ...string) balancer.ClientConnState {
	var s balancer.ClientConnState
	for _, a := range as {
		s.ResolverState.Addresses = append(s.ResolverState.Addresses, resolver.Address{Addr: a})
	}
	return s
}

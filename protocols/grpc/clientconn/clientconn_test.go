package clientconn_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/clientconn"
	"github.com/detsim/detsim/protocols/grpc/clientconn/testnet"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	_ "github.com/detsim/detsim/protocols/grpc/roundrobin"
	"github.com/detsim/detsim/protocols/grpc/server"
	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// longSweep makes the sweeps much longer: go test -run Sweep -grpc.sweep
var longSweep = flag.Bool("grpc.sweep", false, "run the long seed sweeps")

func newNet(t testing.TB, cfg testnet.Config) *testnet.Net {
	t.Helper()
	tn, err := testnet.New(cfg)
	require.NoError(t, err)
	return tn
}

// run runs main and fails the test if the run failed. Inside main, use
// assert (not require): t.FailNow in a task is reported as a panic.
func run(t testing.TB, tn *testnet.Net, main func()) sim.Result {
	t.Helper()
	res, err := tn.W.Run(main)
	require.NoError(t, err)
	if res.Failure != nil {
		t.Fatalf("run failed: %v\n%s", res.Failure, res.Failure.Stack)
	}
	return res
}

// dial makes a ClientConn on the client host and gives it every backend.
func dial(t testing.TB, tn *testnet.Net, opts clientconn.Options) *clientconn.ClientConn {
	testnet.Settle(tn.Client.Env())
	cc, err := clientconn.New(tn.Client.Env(), "test", opts)
	if !assert.NoError(t, err) {
		tn.W.Violate("dial", "%v", err)
	}
	assert.NoError(t, cc.UpdateResolverState(resolver.State{Addresses: tn.Addrs()}))
	return cc
}

func allReady(cc *clientconn.ClientConn, n int) func() bool {
	return func() bool {
		scs := cc.SubConns()
		if len(scs) != n {
			return false
		}
		for _, s := range scs {
			if s.State != connectivity.Ready {
				return false
			}
		}
		return true
	}
}

// waitReady waits until the channel's n SubConns are READY, then lets the
// serializer deliver those states to the balancer (no virtual time is
// needed for that: sleeping 1ms lets every runnable task settle).
func waitReady(env sim.Env, cc *clientconn.ClientConn, n int, timeout time.Duration) bool {
	ok := testnet.WaitFor(env, timeout, time.Millisecond, allReady(cc, n))
	env.Sleep(time.Millisecond)
	return ok
}

func call(cc *clientconn.ClientConn, env sim.Env, timeout time.Duration, opts ...clientconn.CallOption) (string, error) {
	ctx, cancel := env.WithTimeout(env.Background(), timeout)
	defer cancel()
	resp, err := cc.Invoke(ctx, "/test.Echo/Who", []byte("hi"), opts...)
	return string(resp), err
}

func TestRoundRobinRotatesOverBackends(t *testing.T) {
	tn := newNet(t, testnet.Config{Sim: sim.Options{Seed: 1}, Backends: 3, Latency: time.Millisecond})
	var states []connectivity.State
	run(t, tn, func() {
		env := tn.Client.Env()
		cc := dial(t, tn, clientconn.Options{OnStateUpdate: func(s balancer.State) { states = append(states, s.ConnectivityState) }})
		defer cc.Close()
		require.True(t, waitReady(env, cc, 3, time.Second))
		var got []string
		for range 30 {
			who, err := call(cc, env, time.Second)
			assert.NoError(t, err)
			got = append(got, who)
		}
		counts := map[string]int{}
		for i, who := range got {
			counts[who]++
			if i >= 3 {
				assert.Equal(t, got[i-3], who, "RPC %d breaks the rotation %v", i, got)
			}
		}
		assert.Equal(t, map[string]int{"b1": 10, "b2": 10, "b3": 10}, counts)
		assert.Equal(t, 10, tn.Server("b2").Served())
		assert.Equal(t, connectivity.Ready, cc.State())
		tn.StopServers()
	})
	require.NotEmpty(t, states)
	assert.Equal(t, connectivity.Connecting, states[0], "round_robin starts CONNECTING")
	assert.Equal(t, connectivity.Ready, states[len(states)-1])
}

func TestBackendCrashAndRestart(t *testing.T) {
	tn := newNet(t, testnet.Config{Sim: sim.Options{Seed: 2}, Backends: 3, Latency: time.Millisecond})
	var states []connectivity.State
	run(t, tn, func() {
		env := tn.Client.Env()
		cc := dial(t, tn, clientconn.Options{OnStateUpdate: func(s balancer.State) { states = append(states, s.ConnectivityState) }})
		defer cc.Close()
		require.True(t, waitReady(env, cc, 3, time.Second))
		ready := len(states)

		require.NoError(t, tn.N.Crash("b2"))
		// The RST reaches the client in 1ms: b2's SubConn leaves READY
		// (IDLE, then CONNECTING: its SYNs go unanswered).
		assert.True(t, testnet.WaitFor(env, time.Second, time.Millisecond, func() bool {
			return cc.SubConns()[1].State != connectivity.Ready
		}))
		counts := map[string]int{}
		for range 20 {
			who, err := call(cc, env, time.Second)
			assert.NoError(t, err)
			counts[who]++
		}
		assert.Equal(t, map[string]int{"b1": 10, "b3": 10}, counts, "RPCs go to the live backends")
		assert.Contains(t, []connectivity.State{connectivity.Connecting, connectivity.TransientFailure}, cc.SubConns()[1].State)

		env.Sleep(2 * time.Second)
		require.NoError(t, tn.N.Restart("b2"))
		// The SubConn's dial retransmits its SYN (1s, 2s, 4s after the
		// first) and gets through once the server listens again.
		assert.True(t, waitReady(env, cc, 3, 10*time.Second), "b2 is back: %+v", cc.SubConns())
		counts = map[string]int{}
		for range 30 {
			who, err := call(cc, env, time.Second)
			assert.NoError(t, err)
			counts[who]++
		}
		assert.Equal(t, map[string]int{"b1": 10, "b2": 10, "b3": 10}, counts)
		for _, s := range states[ready:] {
			assert.Equal(t, connectivity.Ready, s, "two backends stay READY throughout: %v", states)
		}
		tn.StopServers()
	})
}

// TestWaitForReadyBlocksUntilABackendIsUp: the only backend's server
// starts 5s late; an RPC waits through refused dials and backoff, then
// succeeds.
func TestWaitForReadyBlocksUntilABackendIsUp(t *testing.T) {
	tn := newNet(t, testnet.Config{Sim: sim.Options{Seed: 3}, Backends: 1, Latency: time.Millisecond,
		Boot: func(env netmodel.Env, _ string) ([]server.Option, bool) {
			env.Sleep(5 * time.Second)
			return nil, true
		}})
	run(t, tn, func() {
		env := tn.Client.Env()
		var states []connectivity.State
		cc := dial(t, tn, clientconn.Options{OnStateUpdate: func(s balancer.State) { states = append(states, s.ConnectivityState) }})
		defer cc.Close()
		start := env.Now()
		who, err := call(cc, env, 30*time.Second)
		took := env.Since(start)
		assert.NoError(t, err)
		assert.Equal(t, "b1", who)
		assert.GreaterOrEqual(t, took, 5*time.Second)
		assert.Less(t, took, 10*time.Second, "the next retry after the server came up connects")
		assert.Contains(t, states, connectivity.TransientFailure, "refused dials put the channel in TRANSIENT_FAILURE")
		assert.Equal(t, connectivity.Ready, states[len(states)-1])
		tn.StopServers()
	})
}

func TestFailFast(t *testing.T) {
	tn := newNet(t, testnet.Config{Sim: sim.Options{Seed: 4}, Backends: 2, Latency: time.Millisecond,
		Boot: func(netmodel.Env, string) ([]server.Option, bool) { return nil, false }})
	run(t, tn, func() {
		env := tn.Client.Env()
		cc := dial(t, tn, clientconn.Options{FailFast: true})
		defer cc.Close()
		start := env.Now()
		_, err := call(cc, env, 30*time.Second)
		assert.Equal(t, wire.Unavailable, wire.CodeOf(err), "%v", err)
		assert.ErrorContains(t, err, "connection refused")
		assert.Less(t, env.Since(start), 100*time.Millisecond, "fails once both dials are refused, without waiting")

		// A wait-for-ready call on the same channel waits for its deadline.
		start = env.Now()
		_, err = call(cc, env, 3*time.Second, clientconn.WaitForReady(true))
		assert.Equal(t, wire.DeadlineExceeded, wire.CodeOf(err), "%v", err)
		assert.Equal(t, 3*time.Second, env.Since(start))
	})
}

func TestDeadlinesInVirtualTime(t *testing.T) {
	tn := newNet(t, testnet.Config{Sim: sim.Options{Seed: 5}, Backends: 1,
		Boot: func(env netmodel.Env, name string) ([]server.Option, bool) {
			return []server.Option{server.WithHandler(func(method string, req []byte) ([]byte, error) {
				if method == "/slow" {
					env.Sleep(10 * time.Second)
				}
				return []byte(name), nil
			})}, true
		}})
	run(t, tn, func() {
		env := tn.Client.Env()
		cc := dial(t, tn, clientconn.Options{})
		defer cc.Close()
		require.True(t, waitReady(env, cc, 1, time.Second))

		ctx, cancel := env.WithTimeout(env.Background(), 1500*time.Millisecond)
		start := env.Now()
		_, err := cc.Invoke(ctx, "/slow", nil)
		cancel()
		assert.Equal(t, wire.DeadlineExceeded, wire.CodeOf(err), "%v", err)
		assert.Equal(t, 1500*time.Millisecond, env.Since(start), "the deadline is exact in virtual time")

		// Cancellation, and a context that is already done.
		ctx, cancel = env.WithCancel(env.Background())
		env.Go("canceller", func() { env.Sleep(time.Second); cancel() })
		_, err = cc.Invoke(ctx, "/slow", nil)
		assert.Equal(t, wire.Canceled, wire.CodeOf(err), "%v", err)
		_, err = cc.Invoke(ctx, "/fast", nil)
		assert.Equal(t, wire.Canceled, wire.CodeOf(err), "%v", err)

		// The connection still serves other RPCs.
		who, err := call(cc, env, time.Second)
		assert.NoError(t, err)
		assert.Equal(t, "b1", who)
		tn.StopServers()
	})
}

func TestServerErrorsReachTheCaller(t *testing.T) {
	tn := newNet(t, testnet.Config{Sim: sim.Options{Seed: 6}, Backends: 1,
		Boot: func(env netmodel.Env, name string) ([]server.Option, bool) {
			return []server.Option{server.WithHandler(func(method string, req []byte) ([]byte, error) {
				if method == "/missing" {
					return nil, wire.Errorf(wire.NotFound, "no such thing")
				}
				return nil, errors.New("boom")
			})}, true
		}})
	run(t, tn, func() {
		env := tn.Client.Env()
		cc := dial(t, tn, clientconn.Options{})
		defer cc.Close()
		ctx := env.Background()
		_, err := cc.Invoke(ctx, "/missing", nil)
		assert.Equal(t, wire.NotFound, wire.CodeOf(err))
		assert.Equal(t, "no such thing", wire.MessageOf(err))
		_, err = cc.Invoke(ctx, "/other", nil)
		assert.Equal(t, wire.Unknown, wire.CodeOf(err))
		assert.Equal(t, "boom", wire.MessageOf(err))
		_, err = cc.Invoke(ctx, "/big", make([]byte, wire.MaxFrameSize))
		assert.Equal(t, wire.ResourceExhausted, wire.CodeOf(err), "%v", err)
		tn.StopServers()
	})
}

func TestAddressUpdatesShutDownRemovedSubConns(t *testing.T) {
	tn := newNet(t, testnet.Config{Sim: sim.Options{Seed: 7}, Backends: 3})
	run(t, tn, func() {
		env := tn.Client.Env()
		cc := dial(t, tn, clientconn.Options{})
		defer cc.Close()
		require.True(t, waitReady(env, cc, 3, time.Second))
		assert.NoError(t, cc.UpdateResolverState(resolver.State{Addresses: []resolver.Address{tn.Addr(3)}}))
		scs := cc.SubConns()
		assert.Len(t, scs, 1, "removed SubConns are shut down: %+v", scs)
		for range 5 {
			who, err := call(cc, env, time.Second)
			assert.NoError(t, err)
			assert.Equal(t, "b3", who)
		}
		err := cc.UpdateResolverState(resolver.State{})
		assert.ErrorIs(t, err, balancer.ErrBadResolverState)
		_, err = call(cc, env, time.Second, clientconn.WaitForReady(false))
		assert.ErrorContains(t, err, "zero addresses")
		tn.StopServers()
	})
}

func TestCloseFailsPendingRPCs(t *testing.T) {
	tn := newNet(t, testnet.Config{Sim: sim.Options{Seed: 8, CheckLeaks: true}, Backends: 2,
		Boot: func(env netmodel.Env, name string) ([]server.Option, bool) {
			return []server.Option{server.WithHandler(func(method string, req []byte) ([]byte, error) {
				env.Sleep(time.Second)
				return []byte(name), nil
			})}, name == "b1"
		}})
	run(t, tn, func() {
		env := tn.Client.Env()
		cc := dial(t, tn, clientconn.Options{})
		require.True(t, testnet.WaitFor(env, time.Second, time.Millisecond, func() bool { return cc.State() == connectivity.Ready }))
		errs := sim.NewChan[error](env, 4)
		for range 4 {
			env.Go("rpc", func() {
				_, err := cc.Invoke(env.Background(), "/x", nil)
				errs.Send(err)
			})
		}
		env.Sleep(100 * time.Millisecond)
		assert.Equal(t, "round_robin", cc.Policy())
		assert.NotNil(t, cc.Balancer())
		cc.Close()
		assert.Nil(t, cc.Balancer())
		for range 4 {
			err := errs.Recv()
			assert.Contains(t, []wire.Code{wire.Unavailable, wire.Canceled}, wire.CodeOf(err), "%v", err)
		}
		_, err := cc.Invoke(env.Background(), "/x", nil)
		assert.ErrorIs(t, err, clientconn.ErrClientConnClosing)
		assert.ErrorIs(t, cc.UpdateResolverState(resolver.State{Addresses: tn.Addrs()}), clientconn.ErrClientConnClosing)
		assert.Empty(t, cc.SubConns())
		tn.StopServers()
	})
}

// TestCloseLeavesNothingAlive: with CheckLeaks, closing the channel (one
// backend refusing, so a SubConn sits in backoff with a timer pending, and
// one crashed, so a dial is retransmitting SYNs) and stopping the servers
// leaves no task or timer behind.
func TestCloseLeavesNothingAlive(t *testing.T) {
	for seed := range uint64(5) {
		tn := newNet(t, testnet.Config{Sim: sim.Options{Seed: seed, CheckLeaks: true}, Backends: 3, Latency: time.Millisecond})
		run(t, tn, func() {
			env := tn.Client.Env()
			cc, err := clientconn.New(env, "leakcheck", clientconn.Options{})
			require.NoError(t, err)
			addrs := append(tn.Addrs(), resolver.Address{Addr: "10.0.0.11:1"}) // refused
			require.NoError(t, cc.UpdateResolverState(resolver.State{Addresses: addrs}))
			require.True(t, testnet.WaitFor(env, time.Second, time.Millisecond, func() bool { return cc.State() == connectivity.Ready }))
			for range 10 {
				_, err := call(cc, env, time.Second)
				assert.NoError(t, err)
			}
			require.NoError(t, tn.N.Crash("b3"))
			env.Sleep(1500 * time.Millisecond)
			cc.Close()
			tn.StopServers()
		})
	}
}

func TestBadOptions(t *testing.T) {
	tn := newNet(t, testnet.Config{Backends: 1})
	run(t, tn, func() {
		env := tn.Client.Env()
		cases := []struct {
			opts clientconn.Options
			want string
		}{
			{clientconn.Options{LBConfig: json.RawMessage(`{"round_robin":{}}`)}, "Options.LBConfig: invalid LB policy list"},
			{clientconn.Options{LBConfig: json.RawMessage(`[{"no_such_policy":{}}]`)}, "no registered LB policy"},
			{clientconn.Options{LBConfig: json.RawMessage(`[{"a":{},"b":{}}]`)}, "exactly one policy"},
			{clientconn.Options{ConnectTimeout: -1}, "Options.ConnectTimeout"},
			{clientconn.Options{Backoff: clientconn.BackoffConfig{BaseDelay: time.Second, Multiplier: 0.5, MaxDelay: time.Minute}}, "Options.Backoff.Multiplier"},
			{clientconn.Options{Backoff: clientconn.BackoffConfig{BaseDelay: time.Second, Multiplier: 2, Jitter: 2, MaxDelay: time.Minute}}, "Options.Backoff.Jitter"},
			{clientconn.Options{Backoff: clientconn.BackoffConfig{Multiplier: 2}}, "Options.Backoff.BaseDelay"},
			{clientconn.Options{Backoff: clientconn.BackoffConfig{BaseDelay: time.Minute, Multiplier: 2, MaxDelay: -time.Second}}, "Options.Backoff.MaxDelay"},
		}
		for _, c := range cases {
			_, err := clientconn.New(env, "bad", c.opts)
			assert.ErrorContains(t, err, c.want)
		}
		_, err := clientconn.New(env, "", clientconn.Options{})
		assert.ErrorContains(t, err, "empty target")
	})
}

// multiRPC is a run with several concurrent clients, a crash and a restart.
func multiRPC(t *testing.T, seed uint64, strategy ...sim.Strategy) (sim.Result, []string) {
	opts := sim.Options{Seed: seed, CheckLeaks: true}
	if len(strategy) > 0 {
		opts.Strategy = strategy[0]
	}
	tn := newNet(t, testnet.Config{Sim: opts, Backends: 3, Latency: time.Millisecond})
	var log []string
	res := run(t, tn, func() {
		env := tn.Client.Env()
		cc := dial(t, tn, clientconn.Options{})
		wg := env.NewWaitGroup()
		for w := range 3 {
			wg.Add(1)
			env.Go(fmt.Sprintf("worker%d", w), func() {
				defer wg.Done()
				for i := range 15 {
					who, err := call(cc, env, 5*time.Second)
					log = append(log, fmt.Sprintf("%v w%d/%d %s %v", env.Now().Format("05.000"), w, i, who, wire.CodeOf(err)))
					env.Sleep(time.Duration(env.Rand("think").Intn(200)) * time.Millisecond)
				}
			})
		}
		env.Sleep(500 * time.Millisecond)
		assert.NoError(t, tn.N.Crash("b1"))
		env.Sleep(time.Second)
		assert.NoError(t, tn.N.Restart("b1"))
		wg.Wait()
		cc.Close()
		tn.StopServers()
	})
	return res, log
}

func TestDeterminism(t *testing.T) {
	r1, log1 := multiRPC(t, 42)
	r2, log2 := multiRPC(t, 42)
	assert.Equal(t, r1.Fingerprint, r2.Fingerprint)
	assert.Equal(t, r1.Steps, r2.Steps)
	assert.Equal(t, log1, log2)
	assert.Len(t, log1, 45)
	r3, _ := multiRPC(t, 43)
	assert.NotEqual(t, r1.Fingerprint, r3.Fingerprint, "another seed takes another path")
	t.Logf("seed 42: %v; %s ...", r1, strings.Join(log1[:5], "; "))
}

// TestUnclosedClientConnIsALeak: the leak check sees a channel that was
// never closed, and names its tasks and timers.
func TestUnclosedClientConnIsALeak(t *testing.T) {
	tn := newNet(t, testnet.Config{Sim: sim.Options{Seed: 9, CheckLeaks: true}, Backends: 1})
	res, err := tn.W.Run(func() {
		env := tn.Client.Env()
		cc, err := clientconn.New(env, "forgotten", clientconn.Options{})
		assert.NoError(t, err)
		assert.NoError(t, cc.UpdateResolverState(resolver.State{Addresses: []resolver.Address{tn.Addr(1), {Addr: "10.0.0.11:1"}}}))
		env.Sleep(100 * time.Millisecond) // one SubConn READY, one in backoff
		tn.StopServers()
	})
	require.NoError(t, err)
	require.NotNil(t, res.Failure)
	require.Equal(t, sim.Leak, res.Failure.Kind, "%v", res.Failure)
	var names []string
	for _, b := range res.Failure.Blocked {
		names = append(names, b.Name)
	}
	assert.Contains(t, names, "client/forgotten/CallbackSerializer.run")
	assert.Contains(t, names, "client/forgotten/subConn.connect", "the SubConn waiting out its backoff")
	assert.NotEmpty(t, res.Failure.Timers, "its backoff timer")
}

// TestSweep runs the multi-RPC program (three concurrent clients, a
// backend crash and restart, Close under the leak check) over seeds and
// every strategy: no deadlock, leak or panic, and every RPC returns.
func TestSweep(t *testing.T) {
	seeds := uint64(40)
	if *longSweep {
		seeds = 1500
	}
	if testing.Short() {
		seeds = 10
	}
	for _, spec := range []string{"random", "pct:3", "fifo", "random+permute", "pct:2+permute"} {
		st, err := sim.ParseStrategy(spec)
		require.NoError(t, err)
		for seed := range seeds {
			res, log := multiRPC(t, seed, st)
			require.Len(t, log, 45, "%s seed %d", spec, seed)
			require.Nil(t, res.Failure)
		}
	}
}

package outlierdetection_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/balancer"
	"github.com/detsim/detsim/protocols/grpc/clientconn"
	"github.com/detsim/detsim/protocols/grpc/clientconn/testnet"
	"github.com/detsim/detsim/protocols/grpc/connectivity"
	"github.com/detsim/detsim/protocols/grpc/outlierdetection"
	"github.com/detsim/detsim/protocols/grpc/resolver"
	"github.com/detsim/detsim/protocols/grpc/roundrobin"
	"github.com/detsim/detsim/protocols/grpc/server"
	"github.com/detsim/detsim/protocols/grpc/wire"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	longSweep    = flag.Bool("grpc.sweep", false, "run the long seed sweeps")
	verboseSweep = flag.Bool("grpc.sweep.v", false, "log each sweep run's ejection timeline")
)

func parse(js string) (*outlierdetection.LBConfig, error) {
	_, cfg, err := balancer.ParseConfig(json.RawMessage(`[{"` + outlierdetection.Name + `": ` + js + `}]`))
	if err != nil {
		return nil, err
	}
	return cfg.(*outlierdetection.LBConfig), nil
}

func TestParseConfig(t *testing.T) {
	cfg, err := parse(`{"interval": "10s", "baseEjectionTime": "30s", "maxEjectionPercent": 10,
		"failurePercentageEjection": {"threshold": 85, "enforcementPercentage": 100, "minimumHosts": 5, "requestVolume": 50},
		"childPolicy": [{"round_robin": {}}]}`)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, cfg.Interval)
	assert.Equal(t, 30*time.Second, cfg.BaseEjectionTime)
	assert.Equal(t, 300*time.Second, cfg.MaxEjectionTime, "default")
	assert.Equal(t, uint32(10), cfg.MaxEjectionPercent)
	assert.Equal(t, &outlierdetection.FailurePercentageEjection{Threshold: 85, EnforcementPercentage: 100, MinimumHosts: 5, RequestVolume: 50}, cfg.FailurePercentageEjection)
	assert.Nil(t, cfg.SuccessRateEjection)
	assert.Equal(t, roundrobin.Name, cfg.ChildPolicy.Name())

	cfg, err = parse(`{"childPolicy": [{"no_such_policy": {}}, {"round_robin": {}}], "successRateEjection": {}, "failurePercentageEjection": {}}`)
	require.NoError(t, err)
	assert.Equal(t, outlierdetection.DefaultInterval, cfg.Interval)
	assert.Equal(t, outlierdetection.DefaultBaseEjectionTime, cfg.BaseEjectionTime)
	assert.Equal(t, uint32(outlierdetection.DefaultMaxEjectionPercent), cfg.MaxEjectionPercent)
	assert.Equal(t, &outlierdetection.SuccessRateEjection{StdevFactor: 1900, EnforcementPercentage: 100, MinimumHosts: 5, RequestVolume: 100}, cfg.SuccessRateEjection)
	assert.Equal(t, &outlierdetection.FailurePercentageEjection{Threshold: 85, EnforcementPercentage: 100, MinimumHosts: 5, RequestVolume: 50}, cfg.FailurePercentageEjection)
	assert.Equal(t, roundrobin.Name, cfg.ChildPolicy.Name(), "the first registered child policy")
}

func TestParseConfigErrorsNameTheField(t *testing.T) {
	rr := `"childPolicy": [{"round_robin": {}}]`
	cases := map[string]string{
		`{}`:                                                                        "childPolicy: required",
		`{"childPolicy": null}`:                                                     "childPolicy: required",
		`{"childPolicy": [{"nope": {}}]}`:                                           "childPolicy: no registered LB policy",
		`{"childPolicy": {"round_robin":{}}}`:                                       "childPolicy: invalid LB policy list",
		`{"interval": "abc", ` + rr + `}`:                                           `interval = "abc": not a Go duration`,
		`{"interval": "0s", ` + rr + `}`:                                            "interval = 0s: must be > 0",
		`{"interval": 10, ` + rr + `}`:                                              "interval",
		`{"baseEjectionTime": "-1s", ` + rr + `}`:                                   "baseEjectionTime = -1s: must be >= 0",
		`{"maxEjectionTime": "1parsec", ` + rr + `}`:                                "maxEjectionTime",
		`{"maxEjectionPercent": 101, ` + rr + `}`:                                   "maxEjectionPercent = 101: must be in [0, 100]",
		`{"maxEjectionPercent": -1, ` + rr + `}`:                                    "maxEjectionPercent = -1",
		`{"failurePercentageEjection": {"threshold": 200}, ` + rr + `}`:             "failurePercentageEjection.threshold = 200",
		`{"failurePercentageEjection": {"enforcementPercentage": 101}, ` + rr + `}`: "failurePercentageEjection.enforcementPercentage = 101",
		`{"failurePercentageEjection": {"minimumHosts": -5}, ` + rr + `}`:           "failurePercentageEjection.minimumHosts = -5",
		`{"failurePercentageEjection": {"requestVolume": 1e12}, ` + rr + `}`:        "failurePercentageEjection.requestVolume",
		`{"successRateEjection": {"stdevFactor": -1}, ` + rr + `}`:                  "successRateEjection.stdevFactor = -1",
		`{"successRateEjection": {"enforcementPercentage": 300}, ` + rr + `}`:       "successRateEjection.enforcementPercentage = 300",
		`{"intervall": "1s", ` + rr + `}`:                                           `unknown field "intervall"`,
		`{"failurePercentageEjection": {"treshold": 5}, ` + rr + `}`:                `unknown field "treshold"`,
		`[1]`: "invalid config",
	}
	for js, want := range cases { //detsim:allow independent cases
		_, err := parse(js)
		if assert.Error(t, err, js) {
			assert.Contains(t, err.Error(), want, js)
			assert.Contains(t, err.Error(), "policy "+outlierdetection.Name, "ParseConfig names the policy")
		}
	}
}

// probe is a policy that builds an outlier detection balancer and keeps a
// handle on it, so the test can ask which addresses are ejected.
type probe struct{}

var probed *outlierdetection.Balancer

func (probe) Name() string { return "od_probe_test" }
func (probe) ParseConfig(js json.RawMessage) (balancer.LBConfig, error) {
	return balancer.Get(outlierdetection.Name).(balancer.ConfigParser).ParseConfig(js)
}
func (probe) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	probed = balancer.Get(outlierdetection.Name).Build(cc, opts).(*outlierdetection.Balancer)
	return probed
}

func init() { balancer.Register(probe{}) }

type rpc struct {
	at  time.Duration
	who string
	err error
}

// TestFailingBackendIsEjectedAndUnejected: b2's handler always fails. With
// a 1s interval, the first interval's counts eject it (33 of ~100 RPCs, all
// failed, > 50%); it gets no traffic until the first interval strictly
// after baseEjectionTime (3s) has passed, t=5s; then it is back, fails
// again and is ejected again at t=6s. The run checks for leaks after Close.
func TestFailingBackendIsEjectedAndUnejected(t *testing.T) {
	ejectionRun(t, sim.Options{Seed: 7, CheckLeaks: true}, true)
}

// TestEjectionSweep runs the same program over seeds and strategies.
func TestEjectionSweep(t *testing.T) {
	seeds := uint64(8)
	if *longSweep {
		seeds = 300
	}
	for _, spec := range []string{"random", "pct:3", "fifo", "random+permute"} {
		st, err := sim.ParseStrategy(spec)
		require.NoError(t, err)
		for seed := range seeds {
			t.Run(fmt.Sprintf("%s-%d", spec, seed), func(t *testing.T) {
				ejectionRun(t, sim.Options{Seed: seed, Strategy: st, CheckLeaks: true}, *verboseSweep)
			})
		}
	}
}

func ejectionRun(t *testing.T, opts sim.Options, verbose bool) {
	t.Helper()
	tn, err := testnet.New(testnet.Config{Sim: opts, Backends: 3,
		Boot: func(env netmodel.Env, name string) ([]server.Option, bool) {
			if name != "b2" {
				return nil, true
			}
			return []server.Option{server.WithHandler(func(string, []byte) ([]byte, error) {
				return nil, wire.Errorf(wire.Internal, "b2 broken")
			})}, true
		}})
	require.NoError(t, err)
	var rpcs []rpc
	ejected := map[time.Duration][]string{}
	var states []connectivity.State
	res, err := tn.W.Run(func() {
		env := tn.Client.Env()
		testnet.Settle(env)
		cc, err := clientconn.New(env, "od", clientconn.Options{
			LBConfig: json.RawMessage(`[{"od_probe_test": {"interval": "1s", "baseEjectionTime": "3s", "maxEjectionPercent": 50,
				"failurePercentageEjection": {"threshold": 50, "minimumHosts": 3, "requestVolume": 10},
				"childPolicy": [{"round_robin": {}}]}}]`),
			OnStateUpdate: func(s balancer.State) { states = append(states, s.ConnectivityState) },
		})
		require.NoError(t, err)
		require.NoError(t, cc.UpdateResolverState(resolver.State{Addresses: tn.Addrs()}))
		for i := 0; env.Sim().Elapsed() < 6500*time.Millisecond; i++ {
			ctx, cancel := env.WithTimeout(env.Background(), time.Second)
			resp, err := cc.Invoke(ctx, "/x", nil)
			cancel()
			who := string(resp)
			if wire.MessageOf(err) == "b2 broken" {
				who = "b2"
			} else if err != nil {
				who = "error"
			}
			rpcs = append(rpcs, rpc{env.Sim().Elapsed(), who, err})
			env.Sleep(10 * time.Millisecond)
			if i%50 == 0 {
				ejected[env.Sim().Elapsed().Truncate(500*time.Millisecond)] = probed.Ejected()
			}
		}
		cc.Close()
		tn.StopServers()
	})
	require.NoError(t, err)
	require.Nil(t, res.Failure, "%v", res.Failure)

	b2 := tn.Addr(2).Addr
	byWindow := func(from, to time.Duration) map[string]int {
		m := map[string]int{}
		for _, r := range rpcs {
			if r.at > from && r.at < to {
				m[r.who]++
			}
		}
		return m
	}
	before := byWindow(0, time.Second)
	assert.Greater(t, before["b2"], 10, "%v: b2 serves (and fails) before the first interval: %v", opts.Strategy, before)
	during := byWindow(1010*time.Millisecond, 5*time.Second)
	assert.Zero(t, during["b2"], "ejected from t=1s to t=5s: %v", during)
	assert.Greater(t, during["b1"], 100)
	assert.Greater(t, during["b3"], 100)
	back := byWindow(5*time.Second, 6*time.Second)
	assert.Greater(t, back["b2"], 10, "unejected at t=5s: %v", back)
	again := byWindow(6010*time.Millisecond, 7*time.Second)
	assert.Zero(t, again["b2"], "ejected again at t=6s: %v", again)
	for _, r := range rpcs {
		if r.err != nil && r.who != "b2" {
			t.Errorf("t=%v: unexpected error %v", r.at, r.err)
		}
	}
	keys := make([]time.Duration, 0, len(ejected))
	for k := range ejected { //detsim:allow sorted below
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var timeline []string
	for _, k := range keys {
		timeline = append(timeline, fmt.Sprintf("%v:%v", k, ejected[k]))
	}
	if verbose {
		t.Logf("ejected over time: %s", strings.Join(timeline, " "))
	}
	assert.Empty(t, ejected[500*time.Millisecond])
	assert.Equal(t, []string{b2}, ejected[2*time.Second])
	assert.Equal(t, []string{b2}, ejected[4500*time.Millisecond])
	assert.Empty(t, ejected[5500*time.Millisecond])
	for _, s := range states[1:] {
		assert.NotEqual(t, connectivity.TransientFailure, s, "two backends stay READY")
	}
}

// fakeCC is a balancer.ClientConn whose SubConns never connect.
type fakeCC struct{ states []balancer.State }

type fakeSubConn struct{ addr resolver.Address }

func (f *fakeSubConn) Connect()                  {}
func (f *fakeSubConn) Shutdown()                 {}
func (f *fakeSubConn) Address() resolver.Address { return f.addr }

func (c *fakeCC) NewSubConn(addrs []resolver.Address, _ balancer.NewSubConnOptions) (balancer.SubConn, error) {
	return &fakeSubConn{addr: addrs[0]}, nil
}
func (c *fakeCC) UpdateState(s balancer.State) { c.states = append(c.states, s) }
func (c *fakeCC) ResolveNow()                  {}
func (c *fakeCC) Target() string               { return "fake" }

func runOD(t *testing.T, close bool) sim.Result {
	tn, err := testnet.New(testnet.Config{Sim: sim.Options{Seed: 1, CheckLeaks: true}, Backends: 1,
		Boot: func(netmodel.Env, string) ([]server.Option, bool) { return nil, false }})
	require.NoError(t, err)
	res, err := tn.W.Run(func() {
		env := tn.Client.Env()
		cfg, err := parse(`{"interval": "1s", "failurePercentageEjection": {}, "childPolicy": [{"round_robin": {}}]}`)
		require.NoError(t, err)
		cc := &fakeCC{}
		b := balancer.Get(outlierdetection.Name).Build(cc, balancer.BuildOptions{Env: env, Name: "leaky"})
		assert.NoError(t, b.UpdateClientConnState(balancer.ClientConnState{
			ResolverState: resolver.State{Addresses: tn.Addrs()}, BalancerConfig: cfg}))
		env.Sleep(2500 * time.Millisecond) // a couple of intervals
		assert.NotEmpty(t, cc.states)
		if close {
			b.Close()
		}
	})
	require.NoError(t, err)
	return res
}

// TestLeakedBalancerIsReported reproduces the shape of grpc/grpc-go#7783:
// an outlier detection balancer that is built and never closed leaves its
// run task, its serializer and its interval timer behind, and the leak
// check names them.
func TestLeakedBalancerIsReported(t *testing.T) {
	res := runOD(t, false)
	require.NotNil(t, res.Failure)
	require.Equal(t, sim.Leak, res.Failure.Kind, "%v", res.Failure)
	var names []string
	for _, b := range res.Failure.Blocked {
		names = append(names, b.Name)
	}
	assert.Contains(t, names, "client/leaky/outlierDetectionBalancer.run")
	assert.Contains(t, names, "client/leaky/CallbackSerializer.run")
	assert.Len(t, res.Failure.Timers, 1, "the interval timer: %v", res.Failure.Timers)
	assert.Contains(t, res.Failure.Error(), "outlierDetectionBalancer.run")
	t.Logf("%v", res.Failure)

	res = runOD(t, true)
	assert.Nil(t, res.Failure, "closed, nothing is left: %v", res.Failure)
}

func TestBadBalancerConfigIsRejected(t *testing.T) {
	tn, err := testnet.New(testnet.Config{Backends: 1})
	require.NoError(t, err)
	res, err := tn.W.Run(func() {
		b := balancer.Get(outlierdetection.Name).Build(&fakeCC{}, balancer.BuildOptions{Env: tn.Client.Env(), Name: "x"})
		defer b.Close()
		err := b.UpdateClientConnState(balancer.ClientConnState{BalancerConfig: "not a config"})
		assert.True(t, errors.Is(err, balancer.ErrBadResolverState), "%v", err)
	})
	require.NoError(t, err)
	require.Nil(t, res.Failure, "%v", res.Failure)
}

package scenarios_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"sync"
	"syscall" //detsim:allow live tests check the kernel's errors (EADDRINUSE) on real sockets
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/netmodel/osnet"
	"github.com/detsim/detsim/scenarios"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/osrt"
	"github.com/detsim/detsim/sim/scenario"
)

// liveOnOS runs a scenario's live mode on the OS runtime and real loopback
// sockets (addresses from prefix, so that tests never share one), and
// returns its report and event lines. Every task must be gone afterwards.
func liveOnOS(t *testing.T, name string, prefix netip.Prefix, cfg scenarios.LiveConfig) (scenarios.LiveReport, string) {
	t.Helper()
	m, err := scenarios.Live(name)
	require.NoError(t, err)
	rt := osrt.New(osrt.Options{Seed: 1, OnPanic: func(p osrt.TaskPanic) { t.Errorf("%v\n%s", p, p.Stack) }})
	nw, err := osnet.New(rt, osnet.Options{Prefix: prefix})
	require.NoError(t, err)
	var out syncBuffer
	cfg.Env, cfg.Out = rt, &out
	cfg.Net = scenarios.LiveNetFunc(func(name string) (netmodel.Env, error) {
		nd, err := nw.AddNode(name)
		if err != nil {
			return nil, err
		}
		return nd.Env(), nil
	})
	var rep scenarios.LiveReport
	require.NoError(t, rt.Run(func() { rep, err = m.Run(cfg) }))
	require.NoError(t, err)
	assert.Zero(t, nw.Close(), "the workload closed every socket it opened")
	require.NoError(t, rt.Wait(10*time.Second), "every task ended")
	t.Logf("%s live on %s:\n%s%+v", name, prefix, out.String(), rep)
	return rep, out.String()
}

// livePrefix is the k-th /28 (k < 16) of a /24 that belongs to this test
// process (it is derived from the pid), so that the live tests of two
// processes running at once (two go test runs of this package, another
// checkout's) never share an address: every node listens on fixed ports.
func livePrefix(k int) netip.Prefix {
	pid := os.Getpid() //detsim:allow a per-process loopback range for the live tests
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(64 + (pid>>8)%16), byte(pid), byte(16 * k)}), 28)
}

// liveHost is the i-th address of p (node i-1's).
func liveHost(p netip.Prefix, i int) netip.Addr {
	a := p.Addr().As4()
	a[3] += byte(i)
	return netip.AddrFrom4(a)
}

// liveInSim runs the same live workload in a World on the simulated
// network: the workload is Env code like the protocols it drives.
func liveInSim(t *testing.T, name string, seed uint64, cfg scenarios.LiveConfig) scenarios.LiveReport {
	t.Helper()
	m, err := scenarios.Live(name)
	require.NoError(t, err)
	w, err := sim.New(sim.Options{Seed: seed, CheckLeaks: true, MaxTime: 24 * time.Hour})
	require.NoError(t, err)
	var rep scenarios.LiveReport
	res, err := w.Run(func() {
		nw, err := netmodel.New(w, netmodel.Options{})
		require.NoError(t, err)
		require.NoError(t, nw.AddSegment("lan", netip.MustParsePrefix("10.9.0.0/24"), netmodel.Link{Latency: netmodel.Uniform(50*time.Microsecond, time.Millisecond)}))
		k := 0
		cfg.Env = w
		cfg.Net = scenarios.LiveNetFunc(func(name string) (netmodel.Env, error) {
			k++
			h, err := nw.AddHost(name, nil, netmodel.Iface{Segment: "lan", Addr: netip.AddrFrom4([4]byte{10, 9, 0, byte(k)})})
			if err != nil {
				return nil, err
			}
			return h.Env(), nil
		})
		rep, err = m.Run(cfg)
		require.NoError(t, err)
	})
	require.NoError(t, err)
	require.Nil(t, res.Failure, "%v", res.Failure)
	return rep
}

func requirePassed(t *testing.T, rep scenarios.LiveReport) {
	t.Helper()
	for _, c := range rep.Checks {
		assert.True(t, c.Passed, "%s: %s", c.Property, c.Detail)
	}
}

func TestLiveDiscoveryFindsAllPeers(t *testing.T) {
	p := livePrefix(1)
	rep, out := liveOnOS(t, "discovery", p, scenarios.LiveConfig{Nodes: 4, Duration: 4 * time.Second})
	requirePassed(t, rep)
	_, ok := rep.Metric("full_discovery_s")
	require.True(t, ok, "full discovery reached within the 4s run")
	for i := range 4 {
		for j := range 4 {
			if i != j {
				assert.Contains(t, out, fmt.Sprintf("d%d: peer up d%d (%s:50051)", i, j, liveHost(p, j+1)))
			}
		}
	}
}

func TestLiveDiscoveryInSimulation(t *testing.T) {
	rep := liveInSim(t, "discovery", 1, scenarios.LiveConfig{Nodes: 5, Duration: 50 * time.Second})
	requirePassed(t, rep)
	c, _ := rep.Check("expiry")
	assert.Contains(t, c.Detail, "d4 left at")
}

// syncBuffer collects a live run's events, written from OS goroutines.
type syncBuffer struct {
	mu sync.Mutex //detsim:allow written by OS goroutines, outside any simulation
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLiveGossipDeliversToAll(t *testing.T) {
	rep, out := liveOnOS(t, "gossip-swarm", livePrefix(2), scenarios.LiveConfig{Nodes: 5, Duration: 3 * time.Second})
	requirePassed(t, rep)
	for i := 1; i < 5; i++ {
		assert.Contains(t, out, fmt.Sprintf("n%d: received \"msg-0\"", i))
	}
	rep, out = liveOnOS(t, "gossip-smoke", livePrefix(3), scenarios.LiveConfig{})
	requirePassed(t, rep)
	assert.Contains(t, out, `n1: received "hello" from n0`)
}

func TestLiveGossipInSimulation(t *testing.T) {
	rep := liveInSim(t, "gossip-swarm", 1, scenarios.LiveConfig{Nodes: 20})
	requirePassed(t, rep)
	c, _ := rep.Check("delivery")
	assert.Contains(t, c.Detail, "16 broadcast(s) reached all 19 other nodes")
	requirePassed(t, liveInSim(t, "gossip-smoke", 1, scenarios.LiveConfig{}))
}

// TestLivePickfirstReconnectsOnRPC: after a real server restart the channel
// stays IDLE with no connection attempt until an RPC arrives, and the RPC
// reconnects.
func TestLivePickfirstReconnectsOnRPC(t *testing.T) {
	p := livePrefix(4)
	rep, out := liveOnOS(t, "pickfirst", p, scenarios.LiveConfig{Duration: 3 * time.Second})
	requirePassed(t, rep)
	// The order of events: stop, IDLE, restart, a quiet second, then the
	// RPC's connection attempt.
	assert.Regexp(t, `(?s)server stops.*client: channel IDLE.*server restarted on the same port.*IDLE for 1s with no RPC: no connection attempt.*connection attempt to `+regexp.QuoteMeta(liveHost(p, 2).String())+`:50051.*RPC after the restart served by "server"`, out)
}

func TestLivePickfirstInSimulation(t *testing.T) {
	rep := liveInSim(t, "pickfirst", 1, scenarios.LiveConfig{Duration: 10 * time.Second})
	requirePassed(t, rep)
	c, _ := rep.Check("reconnect-on-rpc")
	assert.Contains(t, c.Detail, "6 reconnections, each started by an RPC")
}

// TestLivePriorityFailsOverAndBack: real backends, the failover and the
// switch back, and after the client closes no goroutine is left.
func TestLivePriorityFailsOverAndBack(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rep, out := liveOnOS(t, "priority", livePrefix(5), scenarios.LiveConfig{Duration: 15 * time.Second})
	requirePassed(t, rep)
	assert.Regexp(t, `(?s)RPCs reach p0.*backend p0 stopped.*failed over to p1.*backend p0 restarted.*switched back to p0.*client closed`, out)
	for _, m := range []string{"failover_ms", "switch_back_ms"} {
		_, ok := rep.Metric(m)
		assert.True(t, ok, m)
	}
}

func TestLivePriorityInSimulation(t *testing.T) {
	rep := liveInSim(t, "priority", 1, scenarios.LiveConfig{})
	requirePassed(t, rep)
	_, ok := rep.Metric("failover_ms")
	assert.True(t, ok)
}

func TestLiveModesAreRegisteredScenarios(t *testing.T) {
	var names []string
	for _, m := range scenarios.LiveModes() {
		names = append(names, m.Scenario)
		_, err := scenario.Lookup(m.Scenario)
		assert.NoError(t, err, "live mode %s", m.Scenario)
		assert.NotEmpty(t, m.Doc)
		assert.NotEmpty(t, m.Properties)
		assert.True(t, m.MinNodes <= m.DefaultNodes && m.DefaultNodes <= m.MaxNodes, m.Scenario)
	}
	assert.Equal(t, []string{"discovery", "gossip-smoke", "gossip-swarm", "pickfirst", "priority"}, names)
}

// TestLiveBadInput: the API's errors name what was wrong.
func TestLiveBadInput(t *testing.T) {
	_, err := scenarios.Live("counter-race")
	assert.ErrorIs(t, err, scenarios.ErrNoLiveMode)
	assert.EqualError(t, err, "scenario counter-race has no live mode: it runs only in simulation (live modes: discovery, gossip-smoke, gossip-swarm, pickfirst, priority)")
	_, err = scenarios.Live("nope")
	assert.ErrorContains(t, err, `unknown scenario "nope"`)

	m, err := scenarios.Live("priority")
	require.NoError(t, err)
	_, err = m.Run(scenarios.LiveConfig{})
	assert.EqualError(t, err, "live priority: LiveConfig.Env and LiveConfig.Net are required")

	// A port already in use: the run stops with the kernel's error, which
	// names the address, and leaves nothing running.
	p := livePrefix(6)
	p1 := netip.AddrPortFrom(liveHost(p, 3), 50051) // p1's port
	//detsim:allow another program holding the port, outside the workload
	ln, err := net.Listen("tcp4", p1.String())
	require.NoError(t, err)
	defer ln.Close()
	rt := osrt.New(osrt.Options{})
	nw, err := osnet.New(rt, osnet.Options{Prefix: p})
	require.NoError(t, err)
	cfg := scenarios.LiveConfig{Env: rt, Net: scenarios.LiveNetFunc(func(name string) (netmodel.Env, error) {
		nd, err := nw.AddNode(name)
		if err != nil {
			return nil, err
		}
		return nd.Env(), nil
	})}
	_, err = m.Run(cfg)
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.ErrorContains(t, err, "live priority: listen tcp4 "+p1.String()+": bind: address already in use")
	assert.Zero(t, nw.Close())
	require.NoError(t, rt.Wait(5*time.Second))

	// No loopback address left for a node.
	small := netip.PrefixFrom(livePrefix(7).Addr(), 30)
	nw, err = osnet.New(rt, osnet.Options{Prefix: small})
	require.NoError(t, err)
	defer nw.Close()
	m, err = scenarios.Live("discovery")
	require.NoError(t, err)
	cfg.Net = scenarios.LiveNetFunc(func(name string) (netmodel.Env, error) {
		nd, err := nw.AddNode(name)
		if err != nil {
			return nil, err
		}
		return nd.Env(), nil
	})
	cfg.Nodes, cfg.Duration = 3, 2*time.Second
	_, err = m.Run(cfg)
	assert.EqualError(t, err, `live discovery: osnet: no loopback address available for node "d2": the 2 host addresses of `+small.String()+` are taken (use a larger prefix)`)
	require.NoError(t, rt.Wait(5*time.Second))
	cfg.Nodes = 201
	_, err = m.Run(cfg)
	assert.EqualError(t, err, "live discovery: -nodes 201 out of range 2-200")
}

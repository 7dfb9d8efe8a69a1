package bench

import (
	"flag"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/netmodel/osnet"
	"github.com/detsim/detsim/scenarios"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/osrt"
	"github.com/detsim/detsim/sim/scenario"
	"github.com/stretchr/testify/require"
)

var budget = flag.Duration("budget", 30*time.Second, "wall-clock budget of each side of a time-to-reproduce comparison")

// hunt is the outcome of looking for a bug for a wall-clock budget.
type hunt struct {
	runs, failures int
	first          time.Duration // wall time to the first failure (0: none)
	firstWhat      string
	wall           time.Duration
}

func (h hunt) perMinute() float64 { return float64(h.failures) / h.wall.Minutes() }

func (h hunt) firstString() string {
	if h.failures == 0 {
		return fmt.Sprintf("none in %v", h.wall.Round(time.Second))
	}
	return h.first.Round(time.Millisecond).String()
}

// simHunt sweeps seeds 0, 1, 2, ... of a scenario's buggy variant with
// GOMAXPROCS workers until the budget is spent.
func simHunt(t *testing.T, name, variant, strategy string, budget time.Duration) (hunt, scenario.Outcome) {
	sc, err := scenario.Lookup(name)
	require.NoError(t, err)
	var st *sim.Strategy
	if strategy != "" {
		s, err := sim.ParseStrategy(strategy)
		require.NoError(t, err)
		st = &s
	}
	var (
		next      atomic.Uint64
		mu        sync.Mutex
		h         hunt
		firstSeed = ^uint64(0)
		firstOut  scenario.Outcome
		wg        sync.WaitGroup
		start     = time.Now()
		deadline  = start.Add(budget)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool := sim.NewPool(0)
			defer pool.Close()
			for time.Now().Before(deadline) {
				seed := next.Add(1) - 1
				o, err := scenario.Execute(scenario.Config{Scenario: sc, Variant: variant, Seed: seed, Strategy: st, Pool: pool})
				if err != nil {
					panic(err)
				}
				mu.Lock()
				h.runs++
				if !o.Passed() {
					h.failures++
					if seed < firstSeed {
						firstSeed, firstOut = seed, o
						if h.first == 0 {
							h.first = time.Since(start)
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	h.wall = time.Since(start)
	if h.failures > 0 {
		h.firstWhat = fmt.Sprintf("seed %d: %s", firstSeed, firstOut.Result.Failure.Kind)
	}
	return h, firstOut
}

// replays reruns a failing outcome n times and counts the exact replays
// (same fingerprint, steps and failure).
func replays(t *testing.T, o scenario.Outcome, n int) int {
	sc, err := scenario.Lookup(o.Scenario)
	require.NoError(t, err)
	same := 0
	for range n {
		st := o.Strategy
		again, err := scenario.Execute(scenario.Config{Scenario: sc, Variant: o.Variant, Seed: o.Seed, Strategy: &st, Params: o.ParamMap()})
		require.NoError(t, err)
		if again.Result.Fingerprint == o.Result.Fingerprint && again.Result.Steps == o.Result.Steps &&
			again.Result.Failure != nil && again.Result.Failure.Message == o.Result.Failure.Message {
			same++
		}
	}
	return same
}

// stressHunt runs a scenario's live workload (the same protocol packages,
// buggy variant) on the OS runtime and loopback sockets in a loop until the
// budget is spent: the stress-testing alternative (go test -count=N on real
// goroutines). A run fails if a property fails or, after teardown, tasks
// are still alive (a goroutine leak, as goleak would report).
func stressHunt(t *testing.T, name, variant string, budget time.Duration, prefix netip.Prefix) (hunt, uint64) {
	m, err := scenarios.Live(name)
	require.NoError(t, err)
	var h hunt
	firstSeed := uint64(0)
	start := time.Now()
	for seed := uint64(0); time.Since(start) < budget; seed++ {
		failed, what := liveOnce(t, m, variant, seed, prefix)
		h.runs++
		if failed {
			h.failures++
			if h.failures == 1 {
				h.first, h.firstWhat, firstSeed = time.Since(start), what, seed
			}
		}
	}
	h.wall = time.Since(start)
	return h, firstSeed
}

func liveOnce(t *testing.T, m *scenarios.LiveMode, variant string, seed uint64, prefix netip.Prefix) (bool, string) {
	rt := osrt.New(osrt.Options{Seed: seed, OnPanic: func(osrt.TaskPanic) {}})
	nw, err := osnet.New(rt, osnet.Options{Prefix: prefix})
	require.NoError(t, err)
	cfg := scenarios.LiveConfig{Env: rt, Variant: variant, Net: scenarios.LiveNetFunc(func(name string) (netmodel.Env, error) {
		nd, err := nw.AddNode(name)
		if err != nil {
			return nil, err
		}
		return nd.Env(), nil
	})}
	var rep scenarios.LiveReport
	var runErr error
	if err := rt.Run(func() { rep, runErr = m.Run(cfg) }); err != nil && runErr == nil {
		runErr = err
	}
	nw.Close()
	require.NoError(t, runErr)
	if !rep.Passed() {
		return true, rep.Failed()[0].Property
	}
	if err := rt.Wait(time.Second); err != nil {
		return true, "leak: " + strings.TrimPrefix(err.Error(), "osrt: ")
	}
	return false, ""
}

// TestCompareStress measures the time to reproduce the priority leak
// (grpc-go#7783) and the gossip late-subscription race (iroh#2460): the
// simulator's sweep against stress testing of the same buggy protocol code
// on the OS runtime, each with the same wall-clock budget (-budget).
func TestCompareStress(t *testing.T) {
	if !*compare {
		t.Skip("a measurement: run with -compare (make bench)")
	}
	var rows [][]string
	simDefault := map[string]hunt{} // each bug's simulator hunt under its default strategy
	for _, c := range []struct{ scenario, strategy string }{
		{"priority", ""}, // its default: pct:1+delay:500us:1+swarm:4
		{"priority", "random+delay:500us:1+swarm:4"},
		{"gossip-smoke", ""}, // its default: random
		{"gossip-smoke", "pct:3"},
	} {
		h, first := simHunt(t, c.scenario, "buggy", c.strategy, *budget)
		rep := "-"
		if h.failures > 0 {
			rep = fmt.Sprintf("%d/10", replays(t, first, 10))
		}
		st := c.strategy
		if st == "" {
			simDefault[c.scenario] = h
			st = first.Strategy.String() + " (default)"
		}
		rows = append(rows, []string{c.scenario, "simulator, " + st, fmt.Sprint(h.runs), fmt.Sprint(h.failures),
			h.firstString(), h.firstWhat, h.perFailure(), fmt.Sprintf("%.1f", h.perMinute()), rep})
	}
	var ratios []string
	for i, name := range []string{"priority", "gossip-smoke"} {
		prefix := netip.MustParsePrefix(fmt.Sprintf("127.%d.0.0/24", 90+i))
		h, seed := stressHunt(t, name, "buggy", *budget, prefix)
		rep := "-"
		if h.failures > 0 {
			again := 0
			for range 5 {
				if failed, _ := liveOnce(t, mustLive(t, name), "buggy", seed, prefix); failed {
					again++
				}
			}
			rep = fmt.Sprintf("%d/5 (same seed)", again)
		}
		rows = append(rows, []string{name, "stress: live runs on goroutines and loopback, in a loop", fmt.Sprint(h.runs), fmt.Sprint(h.failures),
			h.firstString(), h.firstWhat, h.perFailure(), fmt.Sprintf("%.1f", h.perMinute()), rep})
		ratios = append(ratios, compareHunts(name, simDefault[name], h))
	}
	summary.add("Time to reproduce: simulator against stress testing",
		fmt.Sprintf("The buggy variants of `priority` (grpc-go#7783, the Close/Remove leak) and `gossip-smoke` (iroh#2460, the late subscription), with the same wall-clock budget of %v on each side. The simulator sweeps seeds 0, 1, 2, ... with %d workers; the stress harness runs the same protocol packages live (`sim/osrt` + `netmodel/osnet`, the workloads of `simrun live`, buggy variant) in a loop, and counts a run as failing if a property fails or tasks outlive its teardown (a leak; the tasks are named). Wall time per failure is the budget over the failures found (the expected time to a failure, steadier than the first one). Replays: the first failure rerun from its seed, counted when fingerprint, steps and failure are identical (live: when the same seed fails again).",
			*budget, runtime.GOMAXPROCS(0)),
		[]string{"bug", "harness", "runs", "failures", "time to first failure", "first failure", "wall time per failure", "failures/min", "replays"},
		rows, ratios...)
}

// perFailure is the wall time per failure found, or "> wall" for none.
func (h hunt) perFailure() string {
	if h.failures == 0 {
		return fmt.Sprintf("> %v", h.wall.Round(time.Second))
	}
	return (h.wall / time.Duration(h.failures)).Round(100 * time.Microsecond).String()
}

// compareHunts says how much sooner the simulator found the bug than the
// stress harness; when the harness found nothing, the ratio is a lower
// bound (its time to a failure is more than its budget).
func compareHunts(name string, sim, stress hunt) string {
	if sim.failures == 0 {
		return fmt.Sprintf("%s: the simulator found no failure within %v.", name, sim.wall.Round(time.Second))
	}
	simFirst := max(sim.first, time.Millisecond)
	simPer := sim.wall / time.Duration(sim.failures)
	if stress.failures == 0 {
		return fmt.Sprintf("%s: the simulator's first failure came after %v and one every %v; the stress harness found none in %v: at least %.0fx sooner to the first failure, and at least %.0fx more failures per unit of time.",
			name, sim.first.Round(time.Millisecond), simPer.Round(100*time.Microsecond), stress.wall.Round(time.Second),
			stress.wall.Seconds()/simFirst.Seconds(), stress.wall.Seconds()/simPer.Seconds())
	}
	stressPer := stress.wall / time.Duration(stress.failures)
	return fmt.Sprintf("%s: first failure after %v (simulator) against %v (stress): %.0fx sooner; one failure every %v against every %v: %.0fx more often.",
		name, sim.first.Round(time.Millisecond), stress.first.Round(time.Millisecond), stress.first.Seconds()/simFirst.Seconds(),
		simPer.Round(100*time.Microsecond), stressPer.Round(time.Millisecond), stressPer.Seconds()/simPer.Seconds())
}

func mustLive(t *testing.T, name string) *scenarios.LiveMode {
	m, err := scenarios.Live(name)
	require.NoError(t, err)
	return m
}

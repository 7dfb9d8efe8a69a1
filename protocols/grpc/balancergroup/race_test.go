package balancergroup_test

import (
	"strings"
	"testing"

	"github.com/detsim/detsim/netmodel"
	"github.com/detsim/detsim/protocols/grpc/balancergroup"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// raceSeeds is the sweep of TestCloseRaceRemove: seeds 0..2000.
const raceSeeds = 2001

// Seeds on which the Buggy variant leaks (from TestCloseRaceRemove's log).
const (
	randomLeakSeed = 0 // strategy random
	pctLeakSeed    = 7 // strategy pct:3:80
)

// closeRaceRemove is the shutdown race of grpc/grpc-go#7783, reduced to the
// balancer group: children p0 and p1 are active; one task closes the group
// (as priority.Close does) while another removes p1 (as the priority
// policy's run() does when it switches back up to p0). After both return
// and a 10 s grace period (grpctest's leak check), main returns and
// CheckLeaks requires every child's task and timer to be gone.
//
// It reports, from inside the run, whether p1 was left alive in the cache.
func closeRaceRemove(t testing.TB, v balancergroup.Variant, opts sim.Options) (res sim.Result, leaked bool) {
	b := &fakeBuilder{name: "fake"}
	res = run(t, opts, func(env netmodel.Env) {
		g := newGroup(env, v, closeTimeout)
		require.NoError(t, g.bg.Add("p0", b))
		require.NoError(t, g.bg.Add("p1", b))
		require.NoError(t, g.bg.UpdateClientConnState("p0", addrs("10.0.0.2:80")))
		require.NoError(t, g.bg.UpdateClientConnState("p1", addrs("10.0.0.3:80")))

		done := env.NewWaitGroup()
		done.Add(2)
		env.Go("priority.Close", func() {
			defer done.Done()
			g.bg.Close()
		})
		env.Go("priority.run", func() {
			defer done.Done()
			g.bg.Remove("p1")
		})
		done.Wait()
		env.Sleep(10e9) // grpctest's grace period: far less than the 15 min cache timeout

		leaked = b.open() > 0
		if leaked {
			// The only way to leak: p1 parked in the cache after Close.
			assert.Equal(t, []string{"p1"}, g.bg.Cached())
			assert.True(t, b.built[0].closed, "p0 must always be closed")
			assert.False(t, b.built[1].closed)
		} else {
			assert.Empty(t, g.bg.Cached())
		}
	})
	return res, leaked
}

// TestCloseRaceRemove sweeps seeds over closeRaceRemove. The Buggy variant
// must leak p1 on some seeds (those that run Remove between Close's cache
// clear and its closed mark), each time as a Leak failure naming p1's task
// and its 15-minute cache timer; the Fixed variant must never leak.
func TestCloseRaceRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("seed sweep")
	}
	strategies := []sim.Strategy{{Kind: sim.Random}, {Kind: sim.PCT, Depth: 3, Horizon: 80}}
	for _, strat := range strategies {
		t.Run(strat.String(), func(t *testing.T) {
			for _, v := range variants {
				var leaks []uint64
				for seed := uint64(0); seed < raceSeeds; seed++ {
					res, leaked := closeRaceRemove(t, v, sim.Options{Seed: seed, Strategy: strat})
					if !leaked {
						require.Nil(t, res.Failure, "%s seed %d: %v", v, seed, res.Failure)
						continue
					}
					leaks = append(leaks, seed)
					f := res.Failure
					require.NotNil(t, f, "%s seed %d: p1 leaked but CheckLeaks passed", v, seed)
					require.Equal(t, sim.Leak, f.Kind, "%s seed %d: %v", v, seed, f)
					require.Len(t, f.Blocked, 1, "%v", f)
					assert.Equal(t, "client/fake.run", f.Blocked[0].Name)
					require.Len(t, f.Timers, 1, "%v", f)
					assert.True(t, strings.Contains(f.Timers[0], "AfterFunc") && strings.Contains(f.Timers[0], "t=15m"), "timer: %s", f.Timers[0])
				}
				rate := float64(len(leaks)) / raceSeeds
				t.Logf("%s: p1 leaked in %d of %d seeds (%.1f%%); first leaking seeds: %v", v, len(leaks), raceSeeds, 100*rate, leaks[:min(len(leaks), 10)])
				if v == balancergroup.Buggy {
					assert.NotEmpty(t, leaks, "the buggy variant must leak on some seed")
				} else {
					assert.Empty(t, leaks, "the fixed variant must never leak")
				}
			}
		})
	}
}

// TestCloseRaceRemoveReplay replays one leaking seed of each strategy, so
// `go test -short` still shows the bug and its fix. The seeds come from
// TestCloseRaceRemove's log; a change to the code's scheduling points can
// move them (then pick new ones from that log).
func TestCloseRaceRemoveReplay(t *testing.T) {
	for _, c := range []struct {
		strat sim.Strategy
		seed  uint64
	}{
		{sim.Strategy{Kind: sim.Random}, randomLeakSeed},
		{sim.Strategy{Kind: sim.PCT, Depth: 3, Horizon: 80}, pctLeakSeed},
	} {
		res, leaked := closeRaceRemove(t, balancergroup.Buggy, sim.Options{Seed: c.seed, Strategy: c.strat})
		assert.True(t, leaked, "%s seed %d: buggy variant no longer leaks", c.strat, c.seed)
		if assert.NotNil(t, res.Failure) {
			assert.Equal(t, sim.Leak, res.Failure.Kind)
		}
		res, leaked = closeRaceRemove(t, balancergroup.Fixed, sim.Options{Seed: c.seed, Strategy: c.strat})
		assert.False(t, leaked)
		assert.Nil(t, res.Failure)
	}
}

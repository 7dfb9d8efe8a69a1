package scenarios_test

import (
	"testing"

	_ "github.com/detsim/detsim/scenarios"
	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/scenario"
	"github.com/detsim/detsim/sim/simtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestButexBuggyFailsOnlyAsIssue2777: every failing seed of the buggy
// variant is the #2777 lost wakeup or its tag-isolation corruption (never
// a panic, deadlock, leak or another property), both show up, and the
// fixed variant passes the same seeds: under random and PCT scheduling,
// and with preemptions (+delay), which deschedule wakers between their
// nosignal wakes and their bthread_flush.
func TestButexBuggyFailsOnlyAsIssue2777(t *testing.T) {
	sc, err := scenario.Lookup("butex")
	require.NoError(t, err)
	pool := sim.NewPool(0)
	defer pool.Close()
	for _, spec := range []string{"random", "pct:3", "random+delay"} {
		t.Run(spec, func(t *testing.T) {
			strategy, err := sim.ParseStrategy(spec)
			require.NoError(t, err)
			byProperty := map[string]int{}
			for seed := uint64(0); seed < 300; seed++ {
				o, err := scenario.Execute(scenario.Config{Scenario: sc, Variant: "buggy", Seed: seed, Strategy: &strategy, Pool: pool})
				require.NoError(t, err)
				if f := o.Result.Failure; f != nil {
					require.Equal(t, sim.Violation, f.Kind, "seed %d: %v", seed, f)
					byProperty[f.Property]++
				}
				o, err = scenario.Execute(scenario.Config{Scenario: sc, Variant: "fixed", Seed: seed, Strategy: &strategy, Pool: pool})
				require.NoError(t, err)
				require.Nil(t, o.Result.Failure, "fixed seed %d", seed)
			}
			assert.Len(t, byProperty, 2, "only no-lost-wakeup and tag-isolation: %v", byProperty)
			assert.Positive(t, byProperty["no-lost-wakeup"])
			assert.Positive(t, byProperty["tag-isolation"])
		})
	}
}

// TestButexBuggyFound: random and PCT scheduling both find the bug within
// a few seeds.
func TestButexBuggyFound(t *testing.T) {
	for _, strategy := range []string{"random", "pct:3"} {
		t.Run(strategy, func(t *testing.T) {
			simtest.Scenario(t, "butex", simtest.Variant("buggy"), simtest.Strategy(strategy),
				simtest.Seeds(0, 20), simtest.ExpectFailure(), simtest.NoCorpus())
		})
	}
}

// TestButexFixedPCT: the fixed variant holds under PCT scheduling too.
func TestButexFixedPCT(t *testing.T) {
	simtest.Scenario(t, "butex", simtest.Strategy("pct:3"), simtest.Seeds(0, 300), simtest.NoCorpus())
}

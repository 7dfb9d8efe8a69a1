package scenarios_test

import (
	"testing"

	"github.com/detsim/detsim/examples/races"
	_ "github.com/detsim/detsim/scenarios"
	"github.com/detsim/detsim/sim/simtest"
	"pgregory.net/rapid"
)

// The counter-race sweeps as a test writes them (TestRegression covers
// every scenario's default sweep; these show the options).

// TestCounterRaceFixedPCT: the fixed variant holds under PCT scheduling
// too, swept on four goroutines.
func TestCounterRaceFixedPCT(t *testing.T) {
	simtest.Scenario(t, "counter-race", simtest.Strategy("pct:3:20"), simtest.Parallel(4))
}

// TestCounterRaceBuggyFound: a sweep still finds the lost update, with
// random and with PCT scheduling. The first failing seed of each is kept in
// testdata/sim/<TestName>/ and replayed first.
func TestCounterRaceBuggyFound(t *testing.T) {
	for _, strategy := range []string{"random", "pct:3:20"} {
		t.Run(strategy, func(t *testing.T) {
			simtest.Scenario(t, "counter-race", simtest.Variant("buggy"), simtest.Strategy(strategy), simtest.ExpectFailure())
		})
	}
}

// TestCounterRaceRapid: rapid draws the seed and the number of workers; the
// fixed variant passes them all.
func TestCounterRaceRapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		o := simtest.RapidScenario(rt, "counter-race")
		if len(o.Metrics) != 1 || o.Metrics[0].Name != "lost_updates" || o.Metrics[0].Value != 0 {
			rt.Fatalf("metrics %v, want lost_updates 0", o.Metrics)
		}
	})
}

// TestLostUpdateProgram: a World program, not a registered scenario, swept
// the same way; its failing seed is recorded as {"seed":N,...}.
func TestLostUpdateProgram(t *testing.T) {
	simtest.Program(t, races.CheckLostUpdate, simtest.ExpectFailure())
}

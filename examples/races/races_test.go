package races_test

import (
	"slices"
	"testing"

	"github.com/detsim/detsim/examples/races"
	"github.com/detsim/detsim/sim"
	"github.com/stretchr/testify/require"
)

// runLostUpdate runs the lost-update program once and fails the run with a
// violation when an increment was lost.
func runLostUpdate(seed uint64, strat sim.Strategy) sim.Result {
	w, err := sim.New(sim.Options{Seed: seed, Strategy: strat})
	if err != nil {
		panic(err)
	}
	res, err := w.Run(func() { races.CheckLostUpdate(w) })
	if err != nil {
		panic(err)
	}
	return res
}

func TestLostUpdateFoundAndReplayed(t *testing.T) {
	var failing []uint64
	for seed := uint64(0); seed < 200; seed++ {
		if res := runLostUpdate(seed, sim.Strategy{}); res.Failure != nil {
			failing = append(failing, seed)
		}
	}
	require.NotEmpty(t, failing, "a sweep of 200 seeds must find the lost update")
	require.Less(t, len(failing), 200, "some schedules are correct")
	for _, seed := range failing[:min(5, len(failing))] {
		a, b := runLostUpdate(seed, sim.Strategy{}), runLostUpdate(seed, sim.Strategy{})
		require.NotNil(t, b.Failure, "seed %d must fail again on replay", seed)
		require.Equal(t, a.Fingerprint, b.Fingerprint)
		require.Equal(t, a.Failure.Message, b.Failure.Message)
	}
	// FIFO never interleaves at the right point: a naive fixed order hides it.
	require.Nil(t, runLostUpdate(0, sim.Strategy{Kind: sim.FIFO}).Failure)
}

// seedsToFind returns how many seeds from first on a sweep needs before the
// depth-3 bug fires (limit if it never does).
func seedsToFind(first uint64, strat sim.Strategy, pad, limit int) int {
	for i := 0; i < limit; i++ {
		w, err := sim.New(sim.Options{Seed: first + uint64(i), Strategy: strat})
		if err != nil {
			panic(err)
		}
		bug := false
		if _, err := w.Run(func() { bug = races.DepthThree(w, pad) }); err != nil {
			panic(err)
		}
		if bug {
			return i + 1
		}
	}
	return limit
}

// DepthThreePad and DepthThreeHorizon size the depth-3 example: a run takes
// about 20 steps, which is PCT's horizon k.
const (
	DepthThreePad     = 12
	DepthThreeHorizon = 22
)

func TestPCTFindsDepthThreeBug(t *testing.T) {
	pct := sim.Strategy{Kind: sim.PCT, Depth: 3, Horizon: DepthThreeHorizon}
	n := seedsToFind(0, pct, DepthThreePad, 20000)
	require.Less(t, n, 20000, "pct:3 finds the depth-3 bug")
	// PCT with depth 1 never preempts: the bug needs two preemptions.
	require.Equal(t, 3000, seedsToFind(0, sim.Strategy{Kind: sim.PCT, Depth: 1}, DepthThreePad, 3000))
}

// TestDepthThreeRandomVsPCT measures, over several independent sweeps, the
// median number of seeds random and pct:3 need to find the depth-3 bug. It is
// a measurement, not a check of speed; run it with -v to see the figures.
func TestDepthThreeRandomVsPCT(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	const sweeps, limit = 9, 200000
	median := func(strat sim.Strategy) (int, []int) {
		var ns []int
		for s := 0; s < sweeps; s++ {
			ns = append(ns, seedsToFind(uint64(s)*1_000_003, strat, DepthThreePad, limit))
		}
		sorted := slices.Clone(ns)
		slices.Sort(sorted)
		return sorted[len(sorted)/2], ns
	}
	mr, rs := median(sim.Strategy{Kind: sim.Random})
	mp, ps := median(sim.Strategy{Kind: sim.PCT, Depth: 3, Horizon: DepthThreeHorizon})
	t.Logf("depth-3 bug (pad %d): random median %d seeds %v; pct:3:%d median %d seeds %v",
		DepthThreePad, mr, rs, DepthThreeHorizon, mp, ps)
	require.Less(t, mp, mr, "pct must need fewer seeds than random on a depth-3 bug")
}

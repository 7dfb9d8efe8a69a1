package bench

import (
	"flag"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/detsim/detsim/sim"
	"github.com/detsim/detsim/sim/osrt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var compare = flag.Bool("compare", false, "run the comparisons (make bench): wall-time measurements, not assertions")

var smallWorkload = TimerWorkload{Tasks: 20, Rounds: 20}

func runSim(t testing.TB, wl TimerWorkload, seed uint64, strategy string, pool *sim.Pool) []int {
	st, err := sim.ParseStrategy(strategy)
	require.NoError(t, err)
	w, err := sim.New(sim.Options{Seed: seed, Strategy: st, Pool: pool})
	require.NoError(t, err)
	var order []int
	res, err := w.Run(func() { order = wl.Run(w) })
	require.NoError(t, err)
	require.Nil(t, res.Failure)
	return order
}

func runSynctest(t *testing.T, wl TimerWorkload) []int {
	var order []int
	synctest.Test(t, func(t *testing.T) {
		rt := osrt.New(osrt.Options{})
		start := time.Now()
		require.NoError(t, rt.Run(func() { order = wl.Run(rt) }))
		// Fake time: the rounds took the same virtual time as in the World.
		assert.Equal(t, time.Duration(wl.Rounds)*5*time.Millisecond+200*time.Microsecond, time.Since(start).Round(100*time.Microsecond))
	})
	return order
}

// TestTimerWorkloadRunsBothWays is the functional check behind the
// comparison: the workload completes in the simulator (the same order on
// every run of a seed) and in a synctest bubble.
func TestTimerWorkloadRunsBothWays(t *testing.T) {
	a, b := runSim(t, smallWorkload, 1, "random", nil), runSim(t, smallWorkload, 1, "random", nil)
	require.Len(t, a, smallWorkload.Tasks*smallWorkload.Rounds)
	assert.Equal(t, a, b, "a seed gives one order")
	c := runSynctest(t, smallWorkload)
	assert.ElementsMatch(t, a, c, "the same events, in some order")
}

// TestCompareSynctest measures the same timer-heavy workload in the
// simulator and in testing/synctest bubbles: wall time per run, and how
// many distinct event orders repeated runs give. It runs under
// `go test ./bench -compare` (make bench); it asserts nothing about time.
func TestCompareSynctest(t *testing.T) {
	if !*compare {
		t.Skip("a measurement: run with -compare (make bench)")
	}
	wl := TimerWorkload{Tasks: 200, Rounds: 50}
	const runs = 20
	strategies := []string{"random", "pct:3"}
	simWall := make([][]time.Duration, len(strategies))
	simOrders := make([]map[uint64]bool, len(strategies))
	for k := range simOrders {
		simOrders[k] = map[uint64]bool{}
	}
	var stWall []time.Duration
	stOrders := map[uint64]bool{}
	// The simulator's runs share a Pool, as a sweep's do: finished tasks'
	// coroutines keep their grown stacks for the next run's tasks (the Go
	// runtime likewise reuses the goroutines and stacks synctest's runs
	// free).
	pool := sim.NewPool(0)
	defer pool.Close()
	for i := 0; i < runs; i++ {
		for k, st := range strategies {
			start := time.Now()
			o := runSim(t, wl, 1, st, pool)
			simWall[k] = append(simWall[k], time.Since(start))
			simOrders[k][OrderHash(o)] = true
		}
		start := time.Now()
		o := runSynctest(t, wl)
		stWall = append(stWall, time.Since(start))
		stOrders[OrderHash(o)] = true
	}
	mt := median(stWall)
	rows := [][]string{{"testing/synctest (OS runtime in a bubble)", mt.Round(time.Microsecond).String(), "1.00x", fmt.Sprint(len(stOrders))}}
	for k, st := range strategies {
		ms := median(simWall[k])
		rows = append(rows, []string{"simulator, strategy " + st, ms.Round(time.Microsecond).String(),
			fmt.Sprintf("%.2fx", float64(mt)/float64(ms)), fmt.Sprint(len(simOrders[k]))})
	}
	summary.add("Virtual time against testing/synctest",
		fmt.Sprintf("The same timer-heavy workload (`bench.TimerWorkload`: %d tasks in pairs, each with a ticker, a sleep after every tick and an unbuffered hand-off with its partner, %d rounds, %d events), written once against `sim.Env`, run %d times in the simulator (seed 1; the runs share a `sim.Pool`, as a sweep's do) and %d times in a `testing/synctest` bubble on the OS runtime (`sim/osrt`). Speed-up is synctest's median wall time over the simulator's. Under `random` almost every scheduling point switches tasks (that is the exploration); under `pct:3` the running task mostly keeps running, as goroutines do.",
			wl.Tasks, wl.Rounds, wl.Tasks*wl.Rounds, runs, runs),
		[]string{"runtime", "median wall time per run", "speed-up over synctest", "distinct event orders in the runs"},
		rows)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
